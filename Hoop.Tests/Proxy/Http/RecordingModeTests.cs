using System.Net;
using Hoop.Admin.Management;
using Hoop.Proxy.Model;
using Hoop.Proxy.Recording;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Proxy.Http;

public sealed class RecordingModeTests
{
    [Fact]
    public async Task RequiredMode_WriterFailing_RefusesWith503_ThenRecoversWithoutLosingEvents()
    {
        var fixture = new DataPathFixture();
        await fixture.InitializeAsync();
        try
        {
            using var agent = fixture.Agent(fixture.Issuer.Token(subject: "required"));
            var recorder = fixture.Hoop.Services.GetRequiredService<Recorder>();
            await BreakSessionEventsAsync(fixture);

            Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/billing/echo?before=1")).StatusCode);
            await WaitUntil(() => !recorder.Healthy);
            var refused = await agent.GetAsync("/billing/echo?during=1");

            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Contains("no unrecorded access", await refused.Content.ReadAsStringAsync());
            Assert.DoesNotContain(fixture.Backend.Requests, r => r.Path == "/echo?during=1");

            await RepairSessionEventsAsync(fixture);
            await WaitUntil(() => recorder.Healthy);
            Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/billing/echo?after=1")).StatusCode);
            await fixture.FlushRecordingAsync();
            await using var db = await fixture.Contexts.CreateDbContextAsync();
            var summaries = (await Recorded.EventsAsync(db)).Select(e => e.Summary).ToList();
            Assert.Contains("GET /billing/echo?… 200", summaries);
            Assert.Equal(2, summaries.Count);
        }
        finally
        {
            await fixture.DisposeAsync();
        }
    }

    [Fact]
    public async Task BestEffortMode_WriterFailing_KeepsServing()
    {
        var fixture = new BestEffortFixture();
        await fixture.InitializeAsync();
        try
        {
            using var agent = fixture.Agent(fixture.Issuer.Token(subject: "best-effort"));
            var recorder = fixture.Hoop.Services.GetRequiredService<Recorder>();
            await BreakSessionEventsAsync(fixture);

            Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/billing/echo")).StatusCode);
            await WaitUntil(() => !recorder.Healthy);

            Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/billing/echo")).StatusCode);
            await RepairSessionEventsAsync(fixture);
        }
        finally
        {
            await fixture.DisposeAsync();
        }
    }

    [Fact]
    public async Task ModeAndBodyLimitSavedInTheConsole_ApplyWithoutRestart_AndBadValuesAreRefused()
    {
        var fixture = new DataPathFixture();
        await fixture.InitializeAsync();
        try
        {
            var settings = fixture.Hoop.Services.GetRequiredService<RecordingSettingsService>();
            var refused = await settings.SaveAsync(new RecordingSettingsInput(null, -1, 0), null, "test", default);
            Assert.Equal(ChangeStatus.Invalid, refused.Status);
            Assert.Equal(["maxBodyKilobytes", "sessionIdleMinutes"], refused.Errors!.Keys.Order());
            Assert.Equal(RecordingMode.Required, (await settings.GetAsync(default)).Mode);

            var saved = await settings.SaveAsync(new RecordingSettingsInput(RecordingMode.BestEffort, 0, null), null, "test", default);
            Assert.Equal(ChangeStatus.Ok, saved.Status);
            Assert.True((await settings.GetAsync(default)).Saved);

            // Metadata only now: the body is not kept.
            using var agent = fixture.Agent(fixture.Issuer.Token(subject: "console-settings"));
            Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/billing/bytes/100")).StatusCode);
            await fixture.FlushRecordingAsync();
            await using (var db = await fixture.Contexts.CreateDbContextAsync())
            {
                var recorded = (await Recorded.EventsAsync(db)).Single(e => e.Summary.StartsWith("GET /billing/bytes/100", StringComparison.Ordinal));
                var body = System.Text.Json.JsonDocument.Parse(recorded.Content).RootElement.GetProperty("response").GetProperty("body");
                Assert.Equal(100, body.GetProperty("bytes").GetInt64());
                Assert.True(body.GetProperty("truncated").GetBoolean());
            }

            // Best effort now: a failing writer does not stop the agent.
            var recorder = fixture.Hoop.Services.GetRequiredService<Recorder>();
            await BreakSessionEventsAsync(fixture);
            Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/billing/echo?first=1")).StatusCode);
            await WaitUntil(() => !recorder.Healthy);
            Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/billing/echo?during=1")).StatusCode);
            await RepairSessionEventsAsync(fixture);
        }
        finally
        {
            await fixture.DisposeAsync();
        }
    }

    private sealed class BestEffortFixture : DataPathFixture
    {
        protected override IDictionary<string, string?> Settings => new Dictionary<string, string?> { ["Hoop:Recording:Mode"] = "BestEffort" };
    }

    // A real write failure: the table the writer inserts into is gone for a while.
    private static async Task BreakSessionEventsAsync(DataPathFixture fixture)
    {
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        await db.Database.ExecuteSqlRawAsync("ALTER TABLE SessionChunks RENAME TO SessionChunksAway");
    }

    private static async Task RepairSessionEventsAsync(DataPathFixture fixture)
    {
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        await db.Database.ExecuteSqlRawAsync("ALTER TABLE SessionChunksAway RENAME TO SessionChunks");
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(50);
        }

        Assert.True(condition());
    }
}
