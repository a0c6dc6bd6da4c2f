using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Hoop.Data.Entities;
using Hoop.Proxy.Reviews;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Proxy.Http;

/// <summary>Hoop with a review webhook and five-minute pending reviews.</summary>
public sealed class ReviewFixture : DataPathFixture
{
    public WebhookReceiver Webhook { get; private set; } = null!;

    protected override async Task BeforeStartAsync() => Webhook = await WebhookReceiver.StartAsync();

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Hoop:Reviews:Webhook"] = Webhook.Url.ToString(),
        ["Hoop:Reviews:PendingMinutes"] = "5",
    };
}

/// <summary>A review's life: announced, kept across a restart, several approvals, expiry.</summary>
[Collection(Timing.Name)]
public sealed class ReviewLifecycleTests(ReviewFixture fixture) : IClassFixture<ReviewFixture>
{
    [Fact]
    public async Task PendingReview_IsAnnounced_SurvivesARestart_AndIsDecidedAfterIt()
    {
        await SetUpAsync("restart-rule", "/status/201", minApprovals: 1);
        Guid id;
        using (var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-restart")))
        {
            id = await HeldAsync(agent, "/billing/status/201");
        }

        await Eventually.TrueAsync(() => fixture.Webhook.Received.Any(w => w.GetProperty("event").GetString() == "review.requested"), TimeSpan.FromSeconds(10));
        var announced = fixture.Webhook.Received.First(w => w.GetProperty("event").GetString() == "review.requested");
        Assert.Contains($"/reviews/{id}", announced.GetProperty("text").GetString());

        await fixture.RestartAsync();

        using var rita = fixture.Reviewer("rita");
        Assert.Equal("pending", (await rita.GetFromJsonAsync<JsonElement>($"/api/v1/reviews/{id}")).GetProperty("status").GetString());
        (await rita.PostAsJsonAsync($"/api/v1/reviews/{id}/decision", new { approve = true })).EnsureSuccessStatusCode();
        using var again = fixture.Agent(fixture.Issuer.Token(subject: "agent-restart"));
        Assert.Equal(HttpStatusCode.Created, (await again.GetAsync("/billing/status/201")).StatusCode);
        await Eventually.TrueAsync(() => fixture.Webhook.Received.Any(w => w.GetProperty("event").GetString() == "review.decided"), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task TwoApprovalsNeeded_EachReviewerCountsOnce()
    {
        await SetUpAsync("two-person-rule", "/status/202", minApprovals: 2);
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-two"));
        var id = await HeldAsync(agent, "/billing/status/202");
        using var rita = fixture.Reviewer("rita");
        using var sam = fixture.Reviewer("sam");

        var first = await (await rita.PostAsJsonAsync($"/api/v1/reviews/{id}/decision", new { approve = true })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("pending", first.GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.Conflict, (await rita.PostAsJsonAsync($"/api/v1/reviews/{id}/decision", new { approve = true })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await agent.GetAsync("/billing/status/202")).StatusCode);
        var second = await (await sam.PostAsJsonAsync($"/api/v1/reviews/{id}/decision", new { approve = true })).Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal("approved", second.GetProperty("status").GetString());
        Assert.Equal(2, second.GetProperty("decisions").GetArrayLength());
        Assert.Equal(HttpStatusCode.Accepted, (await agent.GetAsync("/billing/status/202")).StatusCode);
    }

    [Fact]
    public async Task PendingReview_ExpiresAfterItsTime_AndCannotBeDecidedThen()
    {
        await SetUpAsync("expiring-rule", "/status/203", minApprovals: 1);
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-expire", expires: DateTime.UtcNow.AddHours(1)));
        var id = await HeldAsync(agent, "/billing/status/203");

        fixture.Clock.Advance(TimeSpan.FromMinutes(6));
        try
        {
            await fixture.Hoop.Services.GetRequiredService<ReviewGate>().ExpireAsync(default);
            using var rita = fixture.Reviewer("rita", DateTime.UtcNow.AddHours(1));
            var late = await rita.PostAsJsonAsync($"/api/v1/reviews/{id}/decision", new { approve = true });

            Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
            Assert.Contains("expired", await late.Content.ReadAsStringAsync());
            await using var db = await fixture.Contexts.CreateDbContextAsync();
            Assert.Equal(ReviewStatus.Expired, (await db.Reviews.SingleAsync(r => r.Id == id)).Status);
            Assert.True(await db.AuditEvents.AnyAsync(a => a.Action == "review.expired"));
        }
        finally
        {
            fixture.Clock.Advance(TimeSpan.FromMinutes(-6));
        }
    }

    private async Task SetUpAsync(string rule, string path, int minApprovals)
    {
        await fixture.EnsureReviewersAsync();
        using var admin = fixture.Hoop.CreateAdminClient();
        await AdminApiAssert.CreatedAsync(admin, "/api/v1/guardrail-rules",
            new { name = rule, path, action = "review", message = "Needs a reviewer.", connection = "billing", minApprovals });
    }

    private static async Task<Guid> HeldAsync(HttpClient agent, string path)
    {
        var held = await agent.GetAsync(path);
        Assert.Equal(HttpStatusCode.Forbidden, held.StatusCode);
        return (await held.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reviewId").GetGuid();
    }

}
