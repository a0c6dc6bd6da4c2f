using System.Net;
using System.Net.Http.Headers;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Tests.Proxy.Http;

/// <summary>A real identity provider (npm oidc-provider) issues the agent's token by client credentials.</summary>
public sealed class OidcProviderEndToEndTests : IAsyncLifetime
{
    private static readonly OidcProvider.Client BillingAgent = new("billing-agent", "s3cret-billing", [DataPathFixture.Group]);
    private static readonly OidcProvider.Client Marketing = new("marketing-agent", "s3cret-marketing", ["marketing"]);

    private OidcProvider _provider = null!;
    private ProviderFixture _fixture = null!;

    public async Task InitializeAsync()
    {
        _provider = await OidcProvider.StartAsync(BillingAgent, Marketing);
        _fixture = new ProviderFixture(_provider.Authority);
        await _fixture.InitializeAsync();
    }

    [Fact]
    public async Task ClientCredentialsToken_ReachesBackendAndIsRecordedUnderTheClient()
    {
        using var agent = _fixture.Agent();
        agent.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await _provider.ClientCredentialsTokenAsync(BillingAgent));

        var response = await agent.GetAsync("/billing/echo?idp=oidc-provider");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"Bearer {DataPathFixture.Canary}", _fixture.Backend.Requests.Last(r => r.Path == "/echo?idp=oidc-provider").Headers["Authorization"]);
        await _fixture.FlushRecordingAsync();
        await using var db = await _fixture.Contexts.CreateDbContextAsync();
        var session = await db.Sessions.SingleAsync(s => s.Subject == "billing-agent");
        Assert.Equal([DataPathFixture.Group], session.Groups);
    }

    [Fact]
    public async Task ClientWithoutGrantedGroup_Is403()
    {
        using var agent = _fixture.Agent();
        agent.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await _provider.ClientCredentialsTokenAsync(Marketing));

        Assert.Equal(HttpStatusCode.Forbidden, (await agent.GetAsync("/billing/echo")).StatusCode);
    }

    private sealed class ProviderFixture(string authority) : DataPathFixture
    {
        protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
        {
            ["Hoop:Identity:Issuers:1:Authority"] = authority,
            ["Hoop:Identity:Issuers:1:Audience"] = OidcProvider.Audience,
            ["Hoop:Identity:Issuers:1:RequireHttpsMetadata"] = "false",
        };
    }

    public async Task DisposeAsync()
    {
        await _fixture.DisposeAsync();
        await _provider.DisposeAsync();
    }
}
