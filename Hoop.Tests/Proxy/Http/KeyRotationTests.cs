using System.Net;
using Hoop.Tests.Support;

namespace Hoop.Tests.Proxy.Http;

public sealed class KeyRotationTests(DataPathFixture fixture) : IClassFixture<DataPathFixture>
{
    [Fact]
    public async Task UnknownKid_RefreshesKeysOnce_AtMostEveryTenSeconds()
    {
        using (var first = fixture.Agent(fixture.Issuer.Token(kid: "k1")))
        {
            Assert.Equal(HttpStatusCode.OK, (await first.GetAsync("/billing/echo")).StatusCode);
        }

        var fetches = fixture.Issuer.JwksFetches;
        fixture.Issuer.Publish("k2");
        using var rotated = fixture.Agent(fixture.Issuer.Token(kid: "k2"));

        // Keys were fetched a moment ago: an unknown kid does not make Hoop hammer the issuer.
        Assert.Equal(HttpStatusCode.Unauthorized, (await rotated.GetAsync("/billing/echo")).StatusCode);
        Assert.Equal(fetches, fixture.Issuer.JwksFetches);

        fixture.Clock.Advance(TimeSpan.FromSeconds(11));
        Assert.Equal(HttpStatusCode.OK, (await rotated.GetAsync("/billing/echo")).StatusCode);
        Assert.Equal(fetches + 1, fixture.Issuer.JwksFetches);
        Assert.Equal(HttpStatusCode.OK, (await rotated.GetAsync("/billing/echo")).StatusCode);
        Assert.Equal(fetches + 1, fixture.Issuer.JwksFetches);
    }
}
