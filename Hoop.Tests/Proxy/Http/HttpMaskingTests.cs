using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Hoop.Proxy.Recording;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Proxy.Http;

/// <summary>Hoop with a 1 KiB masking buffer, so the limit is reachable in a test.</summary>
public sealed class MaskingFixture : DataPathFixture
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?> { ["Hoop:Masking:MaxBodyKilobytes"] = "1" };
}

/// <summary>Masking rules made through the admin API, applied by the data path to a real backend that echoes what it got.</summary>
public sealed class HttpMaskingTests(MaskingFixture fixture) : IClassFixture<MaskingFixture>
{
    [Fact]
    public async Task RequestDirection_TheBackendNeverSeesTheValue_AndTheRecordingNeither()
    {
        await AddRuleAsync(new { name = "prompt-emails", detector = "email", directions = new[] { "request", "recording" }, connection = "billing" });
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-request-mask"));

        var response = await agent.PostAsJsonAsync("/billing/echo?case=request-mask", new { prompt = "Write to ann.lee@example.com about order 7", max_tokens = 64 });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = JsonDocument.Parse((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("body").GetString()!).RootElement;
        Assert.Equal("Write to [EMAIL] about order 7", received.GetProperty("prompt").GetString());
        Assert.Equal(64, received.GetProperty("max_tokens").GetInt32());
        var recorded = await RecordedAsync("/echo?…");
        Assert.DoesNotContain("ann.lee@example.com", recorded);
        Assert.Contains("\"masked\":{\"email\":", recorded);

        // The session keeps the counts of what was masked over its life.
        fixture.Hoop.Services.GetRequiredService<SessionTracker>().EndIdle(DateTimeOffset.MaxValue);
        await fixture.FlushRecordingAsync();
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var session = await db.Sessions.SingleAsync(s => s.Subject == "agent-request-mask");
        Assert.Matches("\"email\":[1-9]", session.MaskedValues);
    }

    [Fact]
    public async Task ResponseDirection_JsonIsMaskedValueByValue_ForTheAgentAndTheRecording()
    {
        await AddRuleAsync(new { name = "cards", detector = "card", style = "partial", keepLast = 4, connection = "billing" });
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-response-mask"));

        var response = await agent.GetAsync("/billing/json");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("ada", body.GetProperty("name").GetString());
        Assert.Equal("**** **** **** 1111", body.GetProperty("card").GetString());
        Assert.Equal(response.Content.Headers.ContentLength, (await response.Content.ReadAsByteArrayAsync()).Length);
        var recorded = await RecordedAsync("/json 200");
        Assert.DoesNotContain("4111 1111 1111 1111", recorded);
    }

    /// <summary>A card number glued to letters and '_' (no word boundary) was passed to the agent and the recording unmasked.</summary>
    [Fact]
    public async Task CardGluedToLetters_IsMaskedForTheAgentAndTheRecording()
    {
        // Scoped to a group of its own, so the other tests' card rule and this one never meet.
        using (var admin = fixture.Hoop.CreateAdminClient())
        {
            await AdminApiAssert.CreatedAsync(admin, "/api/v1/groups", new { name = "glued-agents", connections = new[] { "billing" } });
        }

        await AddRuleAsync(new { name = "glued-cards", detector = "card", connection = "billing", group = "glued-agents" });
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-glued-card", groups: ["glued-agents"]));

        var response = await agent.GetAsync("/billing/echo?ref=cc4111111111111111&next=5500000000000004_x");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var query = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("query").GetString();
        // Masked by this rule or by another test's card rule on the connection, whichever ran: never in clear.
        Assert.StartsWith("?ref=cc", query);
        Assert.EndsWith("_x", query);
        Assert.DoesNotContain("4111111111111111", query);
        Assert.DoesNotContain("5500000000000004", query);
        await fixture.FlushRecordingAsync();
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var session = await db.Sessions.SingleAsync(x => x.Subject == "agent-glued-card");
        var events = (await Recorded.EventsAsync(db, session.Id)).Select(e => e.Summary + "\n" + e.Content).ToList();
        Assert.NotEmpty(events);
        var recorded = string.Join('\n', events);
        Assert.DoesNotContain("4111111111111111", recorded);
        Assert.DoesNotContain("5500000000000004", recorded);
    }

    [Fact]
    public async Task EventStream_IsMaskedEventByEvent_AndStaysAStream()
    {
        await AddRuleAsync(new { name = "sse-emails", detector = "email", directions = new[] { "response", "recording" }, connection = "billing" });
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-sse"));
        using var response = await agent.GetAsync("/billing/sse?json=1", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var first = await reader.ReadLineAsync();
        var firstAt = clock.Elapsed;
        var rest = await reader.ReadToEndAsync();

        Assert.Equal("data: {\"token\":\"event 1\",\"email\":\"[EMAIL]\"}", first);
        Assert.Contains("\"email\":\"[EMAIL]\"", rest);
        Assert.DoesNotContain("@example.com", rest);
        // The backend spends ~600 ms between the first and the last event: the first must not wait for it.
        Assert.True(firstAt < clock.Elapsed - TimeSpan.FromMilliseconds(400), $"first event after {firstAt.TotalMilliseconds} ms of {clock.Elapsed.TotalMilliseconds}");
        Assert.DoesNotContain("@example.com", await RecordedAsync("/sse?… 200"));
    }

    [Fact]
    public async Task GroupScopedRule_AppliesOnlyToThatGroupsCallers()
    {
        await using (var db = await fixture.Contexts.CreateDbContextAsync())
        {
            await fixture.AddGroupAsync("contractors", (await db.Connections.SingleAsync(c => c.Name == "billing")).Id);
        }

        await AddRuleAsync(new { name = "contractor-names", detector = "words", pattern = "ada", group = "contractors", directions = new[] { "response" } });

        using var employee = fixture.Agent(fixture.Issuer.Token(subject: "employee"));
        using var contractor = fixture.Agent(fixture.Issuer.Token(subject: "contractor", groups: ["contractors"]));

        Assert.Equal("ada", (await employee.GetFromJsonAsync<JsonElement>("/billing/json")).GetProperty("name").GetString());
        Assert.Equal("[CONTRACTOR_NAMES]", (await contractor.GetFromJsonAsync<JsonElement>("/billing/json")).GetProperty("name").GetString());
    }

    [Fact]
    public async Task BodyOverTheMaskingLimit_IsRefused_NotPassedUnmasked()
    {
        await AddRuleAsync(new { name = "limit-emails", detector = "email", directions = new[] { "request" }, connection = "billing" });
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-big"));
        var big = new StringContent($"{{\"note\":\"{new string('x', 2048)} bob@example.com\"}}", Encoding.UTF8, "application/json");

        var response = await agent.PostAsync("/billing/echo?case=too-big", big);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("larger than 1 KiB", await response.Content.ReadAsStringAsync());
        Assert.DoesNotContain(fixture.Backend.Requests, r => r.Path == "/echo?case=too-big");
    }

    [Fact]
    public async Task ABodyTheRecordingCannotMask_LeavesTheBodyOut_ButTheExchangeIsStillRecorded()
    {
        await AddRuleAsync(new { name = "no-csv-in-recordings", detector = "content-type", pattern = "text/csv", directions = new[] { "recording" }, connection = "billing" });
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-csv"));

        var response = await agent.PostAsync("/billing/echo?case=csv", new StringContent("id,ssn\n1,123-45-6789", Encoding.UTF8, "text/csv"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var recorded = JsonDocument.Parse(await RecordedAsync("/echo?… 200")).RootElement.GetProperty("request").GetProperty("body");
        Assert.False(recorded.TryGetProperty("text", out _)); // no text: left out of the record
        Assert.Contains("no-csv-in-recordings", recorded.GetProperty("note").GetString());
    }

    [Fact]
    public async Task BadRules_AreRefusedBesideTheirField_AndTheTesterShowsWhatMatchesWhere()
    {
        using var admin = fixture.Hoop.CreateAdminClient();

        await AdminApiAssert.RefusedAsync(admin, "/api/v1/masking-rules", new { name = "bad-regex", detector = "regex", pattern = "(a+)+\\1" }, "pattern", "non-backtracking");
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/masking-rules", new { name = "empty", detector = "regex", pattern = "" }, "pattern", "empty");
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/masking-rules", new { name = "nowhere", detector = "email", connection = "no-such-connection" }, "connection", "no connection named");
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/masking-rules", new { name = "odd", detector = "creditcard" }, "detector", "not a detector");
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/masking-rules", new { name = "dirs", detector = "email", directions = new[] { "sideways" } }, "directions", "not a direction");

        await AddRuleAsync(new { name = "tester-ssn", detector = "ssn", style = "pseudonym", connection = "billing" });
        var tested = await admin.PostAsJsonAsync("/api/v1/masking/test", new { sample = "ssn 123-45-6789 and 000-12-3456", rules = new[] { "tester-ssn" } });
        var result = await tested.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Matches(@"^ssn \[SSN:[0-9a-f]{12}\] and 000-12-3456$", result.GetProperty("output").GetString());
        var match = Assert.Single(result.GetProperty("matches").EnumerateArray());
        Assert.Equal(4, match.GetProperty("start").GetInt32());
        Assert.Equal("123-45-6789", match.GetProperty("text").GetString());
    }

    private async Task AddRuleAsync(object rule)
    {
        using var admin = fixture.Hoop.CreateAdminClient();
        await AdminApiAssert.CreatedAsync(admin, "/api/v1/masking-rules", rule);
    }

    private async Task<string> RecordedAsync(string summaryPart)
    {
        await fixture.FlushRecordingAsync();
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var events = (await Recorded.EventsAsync(db)).OrderByDescending(e => e.At).ToList();
        return events.First(e => e.Summary.Contains(summaryPart, StringComparison.Ordinal)).Content;
    }
}
