using System.Net;
using Hoop.Data.Entities;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Tests.Admin.Management;

/// <summary>
/// Registering an identity provider reads its discovery document and keys first, as the data path will: a provider
/// behind a private CA needs the issuer's CA bundle, and a save without one is refused with the TLS reason.
/// </summary>
public sealed class IssuerServiceTests(DataPathFixture fixture) : IClassFixture<DataPathFixture>
{
    [Fact]
    public async Task Save_ProviderBehindPrivateCa_RefusedWithoutItsBundle_AcceptedWithIt_ThenItsTokensWorkOnTheProxyPort()
    {
        using var ca = new TestCertificateAuthority("Private IdP CA");
        await using var provider = await TestIssuer.StartAsync(ca.Issue(["localhost", "127.0.0.1"]));
        using var admin = fixture.Hoop.CreateAdminClient();
        var issuer = new { displayName = "Private IdP", authority = provider.Authority, audience = TestIssuer.Audience };

        // Without the bundle: the TLS cause, beside the bundle field.
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/issuers", issuer, "caBundlePem", "not issued by a CA in the system's trusted roots");
        // Not a certificate.
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/issuers", new { issuer.displayName, issuer.authority, issuer.audience, caBundlePem = "not pem" },
            "caBundlePem", "PEM");
        // The issuer as the provider does not write it: a trailing slash too many.
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/issuers",
            new { issuer.displayName, authority = provider.Authority + "/", issuer.audience, caBundlePem = ca.Pem }, "authority", "trailing slash");

        await AdminApiAssert.CreatedAsync(admin, "/api/v1/issuers", new { issuer.displayName, issuer.authority, issuer.audience, caBundlePem = ca.Pem });
        await fixture.RefreshPolicyAsync();

        using var agent = fixture.Agent(provider.Token(subject: "private-idp-agent", groups: [DataPathFixture.Group]));
        var response = await agent.GetAsync("/billing/echo");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        Assert.Equal(ca.Pem.Trim(), (await db.IdentityIssuers.SingleAsync(i => i.Authority == provider.Authority)).CaBundlePem);
    }

    [Fact]
    public async Task Save_ProviderCertificateForAnotherName_RefusedNamingTheMismatch()
    {
        using var ca = new TestCertificateAuthority("Private IdP CA");
        await using var provider = await TestIssuer.StartAsync(ca.Issue(["idp.example"]));
        using var admin = fixture.Hoop.CreateAdminClient();

        await AdminApiAssert.RefusedAsync(admin, "/api/v1/issuers",
            new { displayName = "Misnamed IdP", authority = provider.Authority, audience = TestIssuer.Audience, caBundlePem = ca.Pem },
            "caBundlePem", "does not name 'localhost'");
    }

    [Fact]
    public async Task Save_ProviderUnreachable_RefusedSayingSo()
    {
        using var admin = fixture.Hoop.CreateAdminClient();

        await AdminApiAssert.RefusedAsync(admin, "/api/v1/issuers",
            new { displayName = "Gone", authority = "https://localhost:9/", audience = TestIssuer.Audience }, "authority", "could not be reached");
    }

    [Fact]
    public async Task Token_IssuerWhoseBundleNoLongerMatches_401NamesTheTlsCause()
    {
        using var ca = new TestCertificateAuthority("Private IdP CA");
        using var otherCa = new TestCertificateAuthority("Another CA");
        await using var provider = await TestIssuer.StartAsync(ca.Issue(["localhost", "127.0.0.1"]));
        // Registered as stored data would be (the save's check passes with the right bundle), then given the wrong one.
        await using (var db = await fixture.Contexts.CreateDbContextAsync())
        {
            db.IdentityIssuers.Add(new IdentityIssuer
            {
                DisplayName = "Rotated IdP", Authority = provider.Authority, Audience = TestIssuer.Audience, CaBundlePem = otherCa.Pem,
            });
            await db.SaveChangesAsync();
        }

        await fixture.RefreshPolicyAsync();
        using var agent = fixture.Agent(provider.Token(subject: "rotated-agent", groups: [DataPathFixture.Group]));
        var response = await agent.GetAsync("/billing/echo");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var problem = await response.Content.ReadAsStringAsync();
        Assert.True(problem.Contains("TLS with localhost", StringComparison.Ordinal) && problem.Contains("not issued by a CA in the issuer's CA bundle", StringComparison.Ordinal),
            problem);
        Assert.DoesNotContain("IDX20804", problem);
    }
}
