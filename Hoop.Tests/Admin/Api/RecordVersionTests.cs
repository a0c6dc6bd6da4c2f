using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Hoop.Tests.Support;

namespace Hoop.Tests.Admin.Api;

/// <summary>
/// One set of change semantics for every kind of record and setting in the admin API: an ETag on each read and
/// write, If-Match honoured on every PUT and DELETE (412 and nothing changed when it names an older version).
/// </summary>
public sealed class RecordVersionTests(DataPathFixture fixture) : IClassFixture<DataPathFixture>
{
    public static TheoryData<string> Kinds => ["connections", "groups", "masking-rules", "guardrail-rules", "issuers"];

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task EveryRecord_CarriesAnETag_AndIsChangedOrDeletedOnlyAtTheVersionTheCallerRead(string kind)
    {
        await using var issuer = kind == "issuers" ? await TestIssuer.StartAsync() : null;
        var (create, update) = Bodies(kind, $"versioned-{kind}", issuer);
        using var admin = Admin();

        var created = await admin.PostAsJsonAsync($"/api/v1/{kind}", create);
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        var location = created.Headers.Location!.OriginalString;
        var first = created.Headers.ETag!.Tag;
        using (var read = await admin.GetAsync(location))
        {
            Assert.Equal(first, read.Headers.ETag!.Tag);
        }

        using (var stale = await SendAsync(admin, HttpMethod.Put, location, "\"0123456789abcdef0123456789abcdef\"", update))
        {
            Assert.Equal(HttpStatusCode.PreconditionFailed, stale.StatusCode);
            Assert.Equal("application/problem+json", stale.Content.Headers.ContentType?.MediaType);
        }

        using var updated = await SendAsync(admin, HttpMethod.Put, location, first, update);
        Assert.True(updated.StatusCode == HttpStatusCode.OK, await updated.Content.ReadAsStringAsync());
        var second = updated.Headers.ETag!.Tag;
        Assert.NotEqual(first, second);
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await SendAsync(admin, HttpMethod.Put, location, first, update)).StatusCode);

        Assert.Equal(HttpStatusCode.PreconditionFailed, (await SendAsync(admin, HttpMethod.Delete, location, first)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync(location)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(admin, HttpMethod.Delete, location, second)).StatusCode);
        using var gone = await admin.GetAsync(location);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        Assert.StartsWith("There is no ", (await gone.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("/api/v1/settings/recording", """{"sessionIdleMinutes": 45}""")]
    [InlineData("/api/v1/settings/certificates", """{"email": "ops@hoop.test"}""")]
    public async Task Settings_CarryAnETag_AndAreSavedOnlyAtTheVersionTheCallerRead(string path, string change)
    {
        using var admin = Admin();
        var first = (await admin.GetAsync(path)).Headers.ETag!.Tag;

        Assert.Equal(HttpStatusCode.PreconditionFailed, (await SendJsonAsync(admin, path, "\"someone-elses\"", change)).StatusCode);
        using var saved = await SendJsonAsync(admin, path, first, change);
        Assert.True(saved.StatusCode == HttpStatusCode.OK, await saved.Content.ReadAsStringAsync());
        var second = saved.Headers.ETag!.Tag;
        Assert.NotEqual(first, second);
        Assert.Equal(second, (await admin.GetAsync(path)).Headers.ETag!.Tag);
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await SendJsonAsync(admin, path, first, change)).StatusCode);
    }

    private (object Create, object Update) Bodies(string kind, string name, TestIssuer? issuer) => kind switch
    {
        "connections" => (
            new { name, kind = "Http", address = fixture.Backend.Address.ToString(), tlsVerification = "CaBundle", caBundlePem = fixture.Ca.Pem },
            new { name, kind = "Http", address = new Uri(fixture.Backend.Address, "v2/").ToString(), tlsVerification = "CaBundle", caBundlePem = fixture.Ca.Pem }),
        "groups" => (new { name, roles = Array.Empty<string>() }, new { roles = new[] { "auditor" } }),
        "masking-rules" => (new { name, detector = "email" }, new { detector = "card" }),
        "guardrail-rules" => (new { name, path = "/versioned/**", action = "deny", message = "No." }, new { message = "Not here." }),
        "issuers" => (
            new { displayName = name, authority = issuer!.Authority, audience = "urn:hoop:proxy", requireHttpsMetadata = false },
            new { displayName = name + " (renamed)", authority = issuer.Authority, audience = "urn:hoop:proxy", requireHttpsMetadata = false }),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, string etag, object? body = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.IfMatch.Add(EntityTagHeaderValue.Parse(etag));
        return client.SendAsync(request);
    }

    private static Task<HttpResponseMessage> SendJsonAsync(HttpClient client, string path, string etag, string json)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.IfMatch.Add(EntityTagHeaderValue.Parse(etag));
        return client.SendAsync(request);
    }

    private HttpClient Admin()
    {
        var client = fixture.Hoop.CreateClient(fixture.Hoop.ConsoleUrl);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{HoopTestHost.AdminPassword}")));
        return client;
    }
}
