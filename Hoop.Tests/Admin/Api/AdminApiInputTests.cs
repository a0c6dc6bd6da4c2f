using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using Hoop.Tests.Support;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Admin.Api;

/// <summary>
/// What the admin API refuses to store (issue #16): enums given as numbers, names with control characters,
/// secrets that cannot travel in a header, patterns too large for the matching engine, bodies that are not JSON.
/// Each is refused with 400/413/415 problem+json, never 500, and nothing is saved.
/// </summary>
public sealed class AdminApiInputTests(DataPathFixture fixture) : IClassFixture<DataPathFixture>
{
    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(body).RootElement;
    }

    private static async Task AssertRefusedAsync(HttpResponseMessage response, string field)
    {
        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
    }

    [Theory]
    [InlineData("""{"name":"enum-a","kind":99,"address":"https://backend.invalid/"}""", "kind")]
    [InlineData("""{"name":"enum-b","kind":0,"address":"https://backend.invalid/"}""", "kind")]
    [InlineData("""{"name":"enum-c","kind":"1","address":"db.internal:5432"}""", "kind")]
    [InlineData("""{"name":"enum-d","kind":"Http, Postgres","address":"https://backend.invalid/"}""", "kind")]
    [InlineData("""{"name":"enum-e","kind":"Http","address":"https://backend.invalid/","tlsVerification":99}""", "tlsVerification")]
    [InlineData("""{"name":"enum-f","kind":"Http","address":"https://backend.invalid/","credential":{"kind":99,"secret":"s"}}""", "credential.kind")]
    public async Task ConnectionEnums_AsNumbersOrUnknownNames_Are400_AndNothingIsSaved(string json, string field)
    {
        using var admin = fixture.Hoop.CreateAdminClient();

        await AssertRefusedAsync(await admin.PostAsync("/api/v1/connections", Json(json)), field);

        var name = JsonNode.Parse(json)!["name"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/api/v1/connections/{name}")).StatusCode);
    }

    [Fact]
    public async Task OtherEnums_AsNumbers_Are400()
    {
        using var admin = fixture.Hoop.CreateAdminClient();

        await AssertRefusedAsync(await admin.PutAsync("/api/v1/settings/recording", Json("""{"mode":5}""")), "mode");
        await AssertRefusedAsync(await admin.PostAsync("/api/v1/guardrail-rules", Json("""{"name":"enum-rule","action":"1","message":"m","path":"/x"}""")), "action");
        await AssertRefusedAsync(await admin.PostAsync("/api/v1/masking-rules", Json("""{"name":"enum-mask","detector":"email","style":"7"}""")), "style");
        await AssertRefusedAsync(await admin.PostAsync("/api/v1/groups", Json("""{"name":"enum-group","roles":["1"]}""")), "roles");
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/api/v1/guardrail-rules/enum-rule")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/api/v1/masking-rules/enum-mask")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/api/v1/groups/enum-group")).StatusCode);
    }

    [Theory]
    [InlineData("a\u0000b")]
    [InlineData("a\nb")]
    [InlineData("a\rb")]
    [InlineData("ops\u001b[31m")]
    [InlineData("admins\u202e")]
    public async Task Names_WithControlCharacters_Are400(string name)
    {
        using var admin = fixture.Hoop.CreateAdminClient();

        await AssertRefusedAsync(await admin.PostAsJsonAsync("/api/v1/groups", new { name }), "name");
        await AssertRefusedAsync(await admin.PostAsJsonAsync("/api/v1/api-keys", new { name, groups = new[] { DataPathFixture.Group } }), "name");
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        Assert.False(await db.Groups.AnyAsync(g => g.Name == name));
        Assert.False(await db.ApiKeys.AnyAsync(k => k.Name == name));
    }

    [Fact]
    public async Task GroupWithASlash_IsReadUpdatedAndDeletedByItsEncodedName()
    {
        using var admin = fixture.Hoop.CreateAdminClient();

        var created = await admin.PostAsJsonAsync("/api/v1/groups", new { name = "/team/ops", roles = new[] { "auditor" } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("/api/v1/groups/%2Fteam%2Fops", created.Headers.Location?.OriginalString);

        var read = await admin.GetFromJsonAsync<JsonElement>("/api/v1/groups/%2Fteam%2Fops");
        Assert.Equal("/team/ops", read.GetProperty("name").GetString());
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsJsonAsync("/api/v1/groups/%2Fteam%2Fops", new { roles = new[] { "reviewer" } })).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/v1/groups/%2Fteam%2Fops")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/api/v1/groups/%2Fteam%2Fops")).StatusCode);
        await AssertRefusedAsync(await admin.PostAsJsonAsync("/api/v1/groups", new { name = "50%2Foff" }), "name");
    }

    [Theory]
    [InlineData("Bearer", null, "token\r\nX-Injected: 1")]
    [InlineData("Bearer", null, "t\u00f6ken")]
    [InlineData("Header", "X-Api-Key", "key\n")]
    [InlineData("Basic", "svc", "pass\u0000word")]
    [InlineData("Basic", "svc:admin", "password")]
    public async Task CredentialThatCannotTravel_Is400(string kind, string? credentialName, string secret)
    {
        using var admin = fixture.Hoop.CreateAdminClient();
        var name = $"cred-{kind.ToLowerInvariant()}-{Math.Abs(secret.GetHashCode() % 10000)}";

        var response = await admin.PostAsJsonAsync("/api/v1/connections", new
        {
            name, kind = "Http", address = "https://backend.invalid/", credential = new { kind, name = credentialName, secret },
        });

        await AssertRefusedAsync(response, credentialName?.Contains(':') == true ? "credential.name" : "credential.secret");
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/api/v1/connections/{name}")).StatusCode);
    }

    [Fact]
    public async Task OversizedPatternsAndBodies_Are400Or413_Never500()
    {
        using var admin = fixture.Hoop.CreateAdminClient();

        // A 4 KB glob made a non-backtracking regex too large for the engine: 500.
        await AssertRefusedAsync(await admin.PostAsJsonAsync("/api/v1/guardrail-rules",
            new { name = "long-path", path = "/" + string.Concat(Enumerable.Repeat("a*/", 1400)), action = "deny", message = "m" }), "path");
        await AssertRefusedAsync(await admin.PostAsJsonAsync("/api/v1/guardrail-rules",
            new { name = "long-header", header = "X-Tenant", headerPattern = new string('a', 100_000), action = "deny", message = "m" }), "headerPattern");
        await AssertRefusedAsync(await admin.PostAsJsonAsync("/api/v1/masking-rules",
            new { name = "long-words", detector = "words", pattern = string.Join('\n', Enumerable.Range(0, 2000).Select(i => $"w{i}")) }), "pattern");
        // With Expect: 100-continue the client waits for the server's word before it sends the body, so the refusal
        // arrives without a race against a connection closed mid-upload.
        using var oversized = new HttpRequestMessage(HttpMethod.Post, "/api/v1/guardrail-rules")
        {
            Content = JsonContent.Create(new { name = "huge", header = "X-Tenant", headerPattern = new string('a', 1_100_000), action = "deny", message = "m" }),
        };
        oversized.Headers.ExpectContinue = true;
        await oversized.Content.LoadIntoBufferAsync();
        await ProblemAsync(await admin.SendAsync(oversized), HttpStatusCode.RequestEntityTooLarge);

        await using var db = await fixture.Contexts.CreateDbContextAsync();
        Assert.False(await db.GuardrailRules.AnyAsync(r => r.Name == "long-path" || r.Name == "long-header" || r.Name == "huge"));
        Assert.False(await db.MaskingRules.AnyAsync(r => r.Name == "long-words"));
    }

    [Theory]
    [InlineData("text/plain", "{\"name\":\"plain-group\"}")]
    [InlineData("application/x-www-form-urlencoded", "name=plain-group")]
    [InlineData("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nplain-group\r\n--x--\r\n")]
    public async Task BodyThatIsNotJson_Is415Problem_NotASignInRedirect(string contentType, string body)
    {
        using var admin = fixture.Hoop.CreateAdminClient();
        var content = new StringContent(body, Encoding.UTF8);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);

        var problem = await ProblemAsync(await admin.PostAsync("/api/v1/groups", content), HttpStatusCode.UnsupportedMediaType);

        Assert.Contains("application/json", problem.GetProperty("detail").GetString());
        using var anonymous = fixture.Hoop.CreateClient(fixture.Hoop.ConsoleUrl);
        var again = new StringContent(body, Encoding.UTF8);
        again.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        await ProblemAsync(await anonymous.PostAsync("/api/v1/groups", again), HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/api/v1/groups/plain-group")).StatusCode);
    }

    [Theory]
    [InlineData("""{"name":5}""", "name")]
    [InlineData("""{"name":"g","roles":"admin"}""", "roles")]
    [InlineData("""[]""", "body")]
    [InlineData("""{"name":""", "body")]
    public async Task JsonOfTheWrongShape_Is400NamingTheField(string json, string field)
    {
        using var admin = fixture.Hoop.CreateAdminClient();

        await AssertRefusedAsync(await admin.PostAsync("/api/v1/groups", Json(json)), field);
    }

    /// <summary>
    /// Random JSON to every POST and PUT of the admin API (found from the host's own endpoints, so a new one is
    /// covered the day it is added): never a 5xx, and a 4xx leaves the store exactly as it was.
    /// </summary>
    [Fact]
    public async Task RandomJson_ToEveryWrite_IsNever5xx_AndA4xxSavesNothing()
    {
        using var admin = await ApiKeyAdminAsync();
        var endpoints = fixture.Hoop.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.StartsWith("/api/v1", StringComparison.Ordinal) == true)
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? []).Where(m => m is "POST" or "PUT")
                .Select(m => (Method: m, Route: e.RoutePattern.RawText!, Body: e.Metadata.GetMetadata<IAcceptsMetadata>()?.RequestType)))
            .OrderBy(e => e.Route, StringComparer.Ordinal).ThenBy(e => e.Method, StringComparer.Ordinal)
            .ToList();
        Assert.True(endpoints.Count >= 15, string.Join(", ", endpoints.Select(e => e.Route)));

        var requests = Gen.Elements(endpoints.ToArray()).SelectMany(e => Request(e.Method, e.Route, e.Body));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(500), Prop.ForAll(requests.ToArbitrary(), request =>
        {
            var before = StoreAsync().GetAwaiter().GetResult();
            using var message = new HttpRequestMessage(new HttpMethod(request.Method), request.Path) { Content = Json(request.Body) };
            using var response = admin.SendAsync(message).GetAwaiter().GetResult();
            var status = (int)response.StatusCode;
            var problem = response.Content.Headers.ContentType?.MediaType;
            var after = StoreAsync().GetAwaiter().GetResult();
            var changed = before.Zip(after).Select((p, i) => p.First == p.Second ? null : $"(part {i} changed: {Shorten(p.First)} -> {Shorten(p.Second)}) ").FirstOrDefault(d => d is not null);
            var ok = status < 500 && (status < 400 || (changed is null && problem == "application/problem+json"));
            Assert.True(ok, $"{(int)status} {problem} {changed}{Shorten(response.Content.ReadAsStringAsync().GetAwaiter().GetResult())}");
            return true;
        }));
    }

    private static string Shorten(string text) => text.Length > 300 ? text[..300] + $"...({text.Length} chars)" : text;

    private sealed record ApiRequest(string Method, string Path, string Body)
    {
        public override string ToString() => $"{Method} {Path} {Shorten(Body)}";
    }

    /// <summary>A request to one endpoint: its route values from names that exist and names that do not, a random body.</summary>
    private static Gen<ApiRequest> Request(string method, string route, Type? bodyType)
    {
        var names = Gen.Elements("billing", DataPathFixture.Group, "prop-conn", "prop-group", "prop-mask", "prop-guard", "none-such", "%2Fteam");
        var ids = Gen.Elements(Guid.Empty, Guid.Parse("6f1c2f4e-4a55-4a8e-9a55-2d1c9b0d7a11"));
        // Under the body limit: an oversized body is refused before it is read (its own test), and the server may close
        // the connection while the client still writes it.
        return Gen.Zip(names, ids).SelectMany(p => Body(bodyType).Where(b => b.Length < 1_000_000).Select(body => new ApiRequest(method, Fill(route, p.Item1, p.Item2), body)));
    }

    private static string Fill(string route, string name, Guid id) =>
        System.Text.RegularExpressions.Regex.Replace(route, @"\{(\w+)(:\w+)?\}", m => m.Groups[2].Value == ":guid" ? id.ToString() : name);

    /// <summary>Mostly an object with the input's own fields (so validation is reached), sometimes other JSON or not JSON at all.</summary>
    private static Gen<string> Body(Type? type)
    {
        var fields = type?.GetProperties().Select(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name)).ToArray() ?? [];
        var names = Gen.Elements(fields.Concat(["unknown", "kind", "name", "secret"]).ToArray());
        var member = Gen.Zip(names, Value(2));
        var obj = Gen.ListOf(member).Select(members =>
        {
            var node = new JsonObject();
            foreach (var (name, value) in members)
            {
                node[name] = value?.DeepClone();
            }

            return node.ToJsonString();
        });
        return Gen.Frequency(
            (12, obj),
            (1, Value(1).Select(v => v?.ToJsonString() ?? "null")),
            (1, Gen.Elements("", "{", "{\"name\":", "[1,", "\"unterminated", "{\"a\":1}}", "nul", "{\"name\":\"\\ud800\"}")));
    }

    private static Gen<JsonNode?> Value(int depth)
    {
        var strings = Gen.Frequency(
            (4, ArbMap.Default.GeneratorFor<string>().Where(s => s is not null)),
            (3, Gen.Elements("Http", "Postgres", "Bearer", "Basic", "Header", "DatabasePassword", "ClientCertificate", "None", "CaBundle", "Pinned",
                "Plaintext", "Unverified", "SystemRoots", "deny", "review", "http", "sql", "email", "regex", "words", "column", "json-field", "redact",
                "partial", "pseudonym", "request", "response", "recording", "admin", "reviewer", "auditor", "once", "window", "Required", "BestEffort")),
            (3, Gen.Elements("", " ", "a\u0000b", "a\r\nb", "\u001b[2J", "\u202e", "%2F", "a/b", "/x/**", "https://127.0.0.1:1/", "http://127.0.0.1:1/",
                "db.internal:5432/ledger", "(a+)+$", "[", "prop-conn", "prop-group", "billing", DataPathFixture.Group, "99", "1", "Http, Postgres",
                "2026-01-01T00:00:00Z", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "AAAA", "\ud83d\ude00")),
            (1, Gen.Elements(4_100, 70_000, 300_000).Select(n => new string('a', n))),
            (1, Gen.Elements(1400).Select(n => "/" + string.Concat(Enumerable.Repeat("a*/", n)))));
        var scalars = Gen.Frequency(
            (5, strings.Select(s => (JsonNode?)JsonValue.Create(s))),
            (2, Gen.Elements(0, 1, -1, 5, 99, int.MaxValue, int.MinValue).Select(i => (JsonNode?)JsonValue.Create(i))),
            (1, Gen.Elements(1e30, -0.5, 3.7).Select(d => (JsonNode?)JsonValue.Create(d))),
            (2, Gen.Elements(true, false).Select(b => (JsonNode?)JsonValue.Create(b))),
            (2, Gen.Constant<JsonNode?>(null)));
        if (depth == 0)
        {
            return scalars;
        }

        var array = Gen.ListOf(scalars).Select(items => (JsonNode?)new JsonArray(items.Select(i => i?.DeepClone()).ToArray()));
        var nested = Gen.ListOf(Gen.Zip(Gen.Elements("kind", "name", "secret", "unknown"), Value(depth - 1))).Select(members =>
        {
            var node = new JsonObject();
            foreach (var (name, value) in members)
            {
                node[name] = value?.DeepClone();
            }

            return (JsonNode?)node;
        });
        return Gen.Frequency((6, scalars), (2, array), (1, nested));
    }

    /// <summary>Everything an admin configures, table by table: equal before and after means nothing was saved.</summary>
    private async Task<string[]> StoreAsync()
    {
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var options = new JsonSerializerOptions { ReferenceHandler = System.Text.Json.Serialization.ReferenceHandler.IgnoreCycles };
        return new object[]
        {
            await db.Connections.AsNoTracking().OrderBy(x => x.Id).ToListAsync(),
            await db.Groups.AsNoTracking().OrderBy(x => x.Id).ToListAsync(),
            await db.Grants.AsNoTracking().OrderBy(x => x.GroupId).ThenBy(x => x.ConnectionId).ToListAsync(),
            // Not LastUsedAt: the test's own key is used on every request.
            await db.ApiKeys.AsNoTracking().OrderBy(x => x.Id).Select(k => new { k.Id, k.Name, k.Prefix, k.KeyHash, k.Groups, k.ExpiresAt, k.RevokedAt }).ToListAsync(),
            await db.MaskingRules.AsNoTracking().OrderBy(x => x.Id).ToListAsync(),
            await db.GuardrailRules.AsNoTracking().OrderBy(x => x.Id).ToListAsync(),
            await db.IdentityIssuers.AsNoTracking().OrderBy(x => x.Id).ToListAsync(),
            // The settings an admin writes; others (leases, chain heads) move on their own.
            await db.Settings.AsNoTracking().Where(x => x.Key == "policy.recording" || x.Key == "policy.certificates").OrderBy(x => x.Key).ToListAsync(),
            // Uploaded ones: a self-signed certificate is issued again in the background after an earlier accepted change of host names.
            await db.Certificates.AsNoTracking().Where(x => x.Source == Hoop.Data.Entities.CertificateSource.Uploaded).OrderBy(x => x.Id).ToListAsync(),
            await db.Reviews.AsNoTracking().OrderBy(x => x.Id).ToListAsync(),
            await db.Sessions.AsNoTracking().Where(s => s.LegalHold).Select(s => s.Id).ToListAsync(),
        }.Select(part => JsonSerializer.Serialize(part, options)).ToArray();
    }

    /// <summary>An admin client that authenticates with an API key: break-glass Basic pays a slow password hash on every request.</summary>
    private async Task<HttpClient> ApiKeyAdminAsync()
    {
        using var breakGlass = fixture.Hoop.CreateAdminClient();
        if (!(await breakGlass.GetAsync("/api/v1/groups/prop-admins")).IsSuccessStatusCode)
        {
            await AdminApiAssert.CreatedAsync(breakGlass, "/api/v1/groups", new { name = "prop-admins", roles = new[] { "admin" } });
            await AdminApiAssert.CreatedAsync(breakGlass, "/api/v1/connections", new { name = "prop-conn", kind = "Http", address = "https://prop.example/" });
            await AdminApiAssert.CreatedAsync(breakGlass, "/api/v1/groups", new { name = "prop-group", connections = new[] { "prop-conn" } });
            await AdminApiAssert.CreatedAsync(breakGlass, "/api/v1/masking-rules", new { name = "prop-mask", detector = "email" });
            await AdminApiAssert.CreatedAsync(breakGlass, "/api/v1/guardrail-rules", new { name = "prop-guard", path = "/admin/**", action = "deny", message = "No." });
        }

        var created = await breakGlass.PostAsJsonAsync("/api/v1/api-keys", new { name = $"prop-key-{Guid.NewGuid():n}", groups = new[] { "prop-admins" } });
        var key = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
        var client = fixture.Hoop.CreateAdminClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }
}
