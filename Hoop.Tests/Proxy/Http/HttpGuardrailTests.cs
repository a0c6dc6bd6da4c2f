using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Tests.Proxy.Http;

/// <summary>A Hoop of its own for guardrail tests: the rules made here apply to its 'billing' connection only.</summary>
public sealed class GuardrailFixture : DataPathFixture;

/// <summary>Guardrail rules made through the admin API: denials, and requests held until a reviewer decides.</summary>
public sealed class HttpGuardrailTests(GuardrailFixture fixture) : IClassFixture<GuardrailFixture>
{
    [Fact]
    public async Task DenyRule_RefusesWithItsMessage_AndTheBackendNeverSeesTheRequest()
    {
        await AddRuleAsync(new { name = "no-deletes", method = "DELETE", path = "/customers/**", action = "deny", message = "Deleting customers is not allowed.", connection = "billing" });
        await AddRuleAsync(new { name = "no-drops", path = "/echo", bodyPattern = "(?i)drop\\s+table", action = "deny", message = "No DDL through the API.", connection = "billing" });
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-deny"));

        var deleted = await agent.DeleteAsync("/billing/customers/7?case=deny");
        var dropped = await agent.PostAsync("/billing/echo?case=drop", new StringContent("""{"sql":"drop  TABLE users"}""", Encoding.UTF8, "application/json"));
        var fine = await agent.PostAsync("/billing/echo?case=fine", new StringContent("""{"sql":"select 1"}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Forbidden, deleted.StatusCode);
        var problem = await deleted.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Deleting customers is not allowed.", problem.GetProperty("detail").GetString());
        Assert.Equal("no-deletes", problem.GetProperty("rule").GetString());
        Assert.Equal(HttpStatusCode.Forbidden, dropped.StatusCode);
        Assert.Equal(HttpStatusCode.OK, fine.StatusCode);
        Assert.DoesNotContain(fixture.Backend.Requests, r => r.Path.Contains("case=deny", StringComparison.Ordinal) || r.Path.Contains("case=drop", StringComparison.Ordinal));
        await fixture.FlushRecordingAsync();
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        Assert.Contains(await Recorded.EventsAsync(db), e => e.Kind == "http-denied" && e.Summary.Contains("/customers/7", StringComparison.Ordinal));
        Assert.True(await db.AuditEvents.AnyAsync(a => a.Action == "proxy.guardrail-denied"));
    }

    [Fact]
    public async Task ReviewRule_HoldsTheRequest_AnApprovalOnceLetsTheIdenticalRequestRunExactlyOnce()
    {
        await fixture.EnsureReviewersAsync();
        await AddRuleAsync(new { name = "refunds-need-review", method = "POST", path = "/echo", header = "X-Operation", headerPattern = "^refund$",
            action = "review", message = "Refunds need a reviewer.", connection = "billing", reviewerGroup = "approvers" });
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-refund"));
        agent.DefaultRequestHeaders.Add("X-Hoop-Justification", "customer 42 was charged twice");
        agent.DefaultRequestHeaders.Add("X-Operation", "refund");

        var held = await agent.PostAsync("/billing/echo?case=refund", Json("""{"refund":42}"""));
        Assert.Equal(HttpStatusCode.Forbidden, held.StatusCode);
        var problem = await held.Content.ReadFromJsonAsync<JsonElement>();
        var id = problem.GetProperty("reviewId").GetGuid();
        Assert.Equal("pending", problem.GetProperty("reviewStatus").GetString());
        Assert.EndsWith($"/reviews/{id}", problem.GetProperty("reviewUrl").GetString());
        Assert.Equal(HttpStatusCode.Forbidden, (await agent.PostAsync("/billing/echo?case=refund", Json("""{"refund":42}"""))).StatusCode);

        using var rita = fixture.Reviewer("rita");
        var listed = await rita.GetFromJsonAsync<JsonElement>("/api/v1/reviews?status=Pending");
        var pending = listed.EnumerateArray().Single(r => r.GetProperty("id").GetGuid() == id);
        Assert.Equal("customer 42 was charged twice", pending.GetProperty("justification").GetString());
        var request = JsonDocument.Parse(pending.GetProperty("request").GetString()!).RootElement;
        Assert.Equal("/echo", request.GetProperty("path").GetString());
        Assert.Equal("{\"refund\":42}", request.GetProperty("body").GetString());

        // The requester cannot approve their own request, even holding the reviewer role.
        using var self = fixture.Reviewer("agent-refund");
        Assert.Equal(HttpStatusCode.Forbidden, (await self.PostAsJsonAsync($"/api/v1/reviews/{id}/decision", new { approve = true })).StatusCode);
        var approved = await rita.PostAsJsonAsync($"/api/v1/reviews/{id}/decision", new { approve = true, scope = "once" });
        Assert.True(approved.IsSuccessStatusCode, await approved.Content.ReadAsStringAsync());

        var ran = await agent.PostAsync("/billing/echo?case=refund", Json("""{"refund":42}"""));
        var again = await agent.PostAsync("/billing/echo?case=refund", Json("""{"refund":42}"""));
        var other = await agent.PostAsync("/billing/echo?case=refund", Json("""{"refund":43}"""));

        Assert.Equal(HttpStatusCode.OK, ran.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, again.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, other.StatusCode);
        Assert.Single(fixture.Backend.Requests, r => r.Path == "/echo?case=refund");
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        Assert.True(await db.AuditEvents.AnyAsync(a => a.Action == "review.approved" && a.Actor == "rita"));
        Assert.NotNull((await db.Reviews.SingleAsync(r => r.Id == id)).ConsumedAt);
    }

    [Fact]
    public async Task WindowApproval_LetsRequestsThroughUntilItEnds_AndARejectionSaysWhy()
    {
        await fixture.EnsureReviewersAsync();
        await AddRuleAsync(new { name = "exports-need-review", path = "/bytes/*", action = "review", message = "Exports need a reviewer.", connection = "billing" });
        // Tokens that outlive the clock's jump.
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-export", expires: DateTime.UtcNow.AddHours(2)));
        using var rita = fixture.Reviewer("rita", DateTime.UtcNow.AddHours(2));

        var id = (await (await agent.GetAsync("/billing/bytes/10")).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reviewId").GetGuid();
        (await rita.PostAsJsonAsync($"/api/v1/reviews/{id}/decision", new { approve = true, scope = "window", windowMinutes = 10 })).EnsureSuccessStatusCode();

        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/billing/bytes/10")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/billing/bytes/20")).StatusCode);
        fixture.Clock.Advance(TimeSpan.FromMinutes(11));
        try
        {
            var after = await agent.GetAsync("/billing/bytes/10");
            Assert.Equal(HttpStatusCode.Forbidden, after.StatusCode);
            var next = (await after.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reviewId").GetGuid();
            Assert.Equal(HttpStatusCode.BadRequest, (await rita.PostAsJsonAsync($"/api/v1/reviews/{next}/decision", new { approve = false })).StatusCode);
            (await rita.PostAsJsonAsync($"/api/v1/reviews/{next}/decision", new { approve = false, reason = "not during the audit" })).EnsureSuccessStatusCode();
            var rejected = await (await agent.GetAsync("/billing/bytes/10")).Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("rejected", rejected.GetProperty("reviewStatus").GetString());
            Assert.Contains("not during the audit", rejected.GetProperty("detail").GetString());
        }
        finally
        {
            fixture.Clock.Advance(TimeSpan.FromMinutes(-11));
        }
    }

    [Fact]
    public async Task PreferWait_TheAgentWaitsForTheDecision_AndGoesOnWhenApproved()
    {
        await fixture.EnsureReviewersAsync();
        await AddRuleAsync(new { name = "slow-needs-review", path = "/slow/*", action = "review", message = "Slow calls need a reviewer.", connection = "billing" });
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-wait"));
        using var rita = fixture.Reviewer("rita");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/billing/slow/1");
        request.Headers.Add("Prefer", "wait=30");

        var waiting = agent.SendAsync(request);
        Guid? id = null;
        for (var i = 0; i < 100 && id is null; i++)
        {
            await Task.Delay(100);
            id = (await rita.GetFromJsonAsync<JsonElement>("/api/v1/reviews?status=Pending")).EnumerateArray()
                .Where(r => r.GetProperty("rule").GetString() == "slow-needs-review").Select(r => (Guid?)r.GetProperty("id").GetGuid()).FirstOrDefault();
        }

        Assert.False(waiting.IsCompleted, "the agent waits for the decision");
        (await rita.PostAsJsonAsync($"/api/v1/reviews/{id}/decision", new { approve = true })).EnsureSuccessStatusCode();

        Assert.Equal(HttpStatusCode.OK, (await waiting).StatusCode);
    }

    [Fact]
    public async Task BadRules_AreRefusedBesideTheirField()
    {
        using var admin = fixture.Hoop.CreateAdminClient();

        await AdminApiAssert.RefusedAsync(admin, "/api/v1/guardrail-rules", new { name = "p", path = "customers/*", action = "deny", message = "m" }, "path", "starts with '/'");
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/guardrail-rules", new { name = "b", bodyPattern = "(?<=x)y", action = "deny", message = "m" }, "bodyPattern", "non-backtracking");
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/guardrail-rules", new { name = "a", action = "maybe", message = "m" }, "action", "deny or review");
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/guardrail-rules", new { name = "m", action = "deny" }, "message", "what the agent is told");
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/guardrail-rules", new { name = "g", action = "review", message = "m", reviewerGroup = DataPathFixture.Group }, "reviewerGroup", "does not carry the reviewer role");
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/guardrail-rules", new { name = "c", action = "deny", message = "m", connection = "nowhere" }, "connection", "no connection named");
    }

    private async Task AddRuleAsync(object rule)
    {
        using var admin = fixture.Hoop.CreateAdminClient();
        await AdminApiAssert.CreatedAsync(admin, "/api/v1/guardrail-rules", rule);
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}
