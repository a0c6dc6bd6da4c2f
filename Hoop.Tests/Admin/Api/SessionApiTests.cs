using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Hoop.Tests.Support;

namespace Hoop.Tests.Admin.Api;

/// <summary>Sessions through the admin API while they are still open: their counts so far, and every time in UTC with a 'Z'.</summary>
public sealed partial class SessionApiTests(DataPathFixture fixture) : IClassFixture<DataPathFixture>
{
    [Fact]
    public async Task OpenSession_ShowsItsEventAndMaskingCountsSoFar_AndEveryTimeIsUtcWithZ()
    {
        using var admin = fixture.Hoop.CreateAdminClient();
        await AdminApiAssert.CreatedAsync(admin, "/api/v1/groups", new { name = "live-agents", connections = new[] { "billing" } });
        await AdminApiAssert.CreatedAsync(admin, "/api/v1/masking-rules", new { name = "live-cards", detector = "card", group = "live-agents" });
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "live-counter", groups: ["live-agents"]));

        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/billing/json")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/billing/json")).StatusCode);
        await fixture.FlushRecordingAsync();

        var listed = await admin.GetStringAsync("/api/v1/sessions?agent=live-counter");
        var session = Assert.Single(JsonDocument.Parse(listed).RootElement.EnumerateArray());
        Assert.Equal("Open", session.GetProperty("status").GetString());
        Assert.Equal(2, session.GetProperty("eventCount").GetInt32());
        Assert.Equal(2, JsonDocument.Parse(session.GetProperty("maskedValues").GetString()!).RootElement.GetProperty("card").GetInt32());
        Assert.EndsWith("Z", session.GetProperty("startedAt").GetString());
        AssertEveryTimeIsUtc(listed);

        var id = session.GetProperty("id").GetString();
        var one = await admin.GetStringAsync($"/api/v1/sessions/{id}");
        var read = JsonDocument.Parse(one).RootElement;
        Assert.Equal(2, read.GetProperty("session").GetProperty("eventCount").GetInt32());
        Assert.Equal(2, read.GetProperty("events").GetArrayLength());
        AssertEveryTimeIsUtc(one);
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        Assert.Equal(2, (await Recorded.EventsAsync(db, Guid.Parse(id!))).Count);
        AssertEveryTimeIsUtc(await admin.GetStringAsync("/api/v1/audit?limit=20"));
        // A time given with an offset is kept as the same instant, in UTC.
        var key = await admin.PostAsJsonAsync("/api/v1/api-keys", new { name = "live-key", groups = new[] { "live-agents" }, expiresAt = "2030-01-01T00:00:00+02:00" });
        Assert.Equal(HttpStatusCode.Created, key.StatusCode);
        Assert.Equal("2029-12-31T22:00:00Z", (await key.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("apiKey").GetProperty("expiresAt").GetString());
        AssertEveryTimeIsUtc(await admin.GetStringAsync("/api/v1/api-keys"));

        // Exports too: every JSON line, and the time column of CSV.
        foreach (var line in (await admin.GetStringAsync($"/api/v1/sessions/{id}/export")).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            AssertEveryTimeIsUtc(line);
        }

        var csv = (await admin.GetStringAsync($"/api/v1/sessions/{id}/export?format=csv")).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(csv.Where(l => l.StartsWith(id!, StringComparison.Ordinal)), l => Assert.EndsWith("Z", l.Split(',')[2]));
        var auditCsv = (await admin.GetStringAsync("/api/v1/audit/export?format=csv")).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(auditCsv.Skip(1), l => Assert.EndsWith("Z", l.Split(',')[1]));
    }

    private static void AssertEveryTimeIsUtc(string json)
    {
        var times = new List<string>();
        Collect(JsonDocument.Parse(json).RootElement, times);
        Assert.NotEmpty(times);
        Assert.All(times, t => Assert.EndsWith("Z", t));
    }

    private static void Collect(JsonElement element, List<string> times)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    Collect(property.Value, times);
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    Collect(item, times);
                }

                break;
            case JsonValueKind.String when IsoTime().IsMatch(element.GetString()!):
                times.Add(element.GetString()!);
                break;
        }
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")]
    private static partial Regex IsoTime();
}
