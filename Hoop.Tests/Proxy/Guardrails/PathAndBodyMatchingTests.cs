using System.Text;
using Hoop.Data.Entities;
using Hoop.Proxy.Guardrails.Rules;
using Microsoft.AspNetCore.Http;

namespace Hoop.Tests.Proxy.Guardrails;

/// <summary>Spellings of a path or body that backends take for the same thing must meet the same rule.</summary>
public sealed class PathAndBodyMatchingTests
{
    private static readonly Guardrail AdminOnly = Guardrail.Compile(
        new GuardrailRule { Name = "admin", Pattern = "/admin/**", Message = "no", Action = GuardrailAction.Deny }, null);

    [Theory]
    [InlineData("/admin/users")]
    [InlineData("/admin%2Fusers")]
    [InlineData("//admin//users")]
    [InlineData("/admin;jsessionid=1/users")]
    [InlineData("/ADMIN/users/")]
    [InlineData("/admin/\nusers")]
    public void PathSpellings_AllMatch(string path)
    {
        Assert.True(AdminOnly.Matches("GET", Guardrail.CanonicalPath(path), new HeaderDictionary(), ""));
    }

    [Fact]
    public void Requesters_AreTheSameOnlyWithTheSameIssuerAndSubject_OrTheSameKey()
    {
        var alice = new Hoop.Proxy.Model.Caller("alice", "Alice", [], Hoop.Proxy.Model.CallerKind.Token) { Issuer = "https://idp-a.example" };
        var otherAlice = alice with { Issuer = "https://idp-b.example" };
        var key = new Hoop.Proxy.Model.Caller("api-key:bot", "bot", [], Hoop.Proxy.Model.CallerKind.ApiKey) { ApiKeyId = Guid.NewGuid() };
        var remadeKey = key with { ApiKeyId = Guid.NewGuid() };

        Assert.Equal(alice.Key, (alice with { DisplayName = "A." }).Key);
        Assert.NotEqual(alice.Key, otherAlice.Key);
        Assert.NotEqual(key.Key, remadeKey.Key);
    }

    [Fact]
    public void BodyPatterns_SeeJsonEscapesDecoded_AndFailClosedOnOtherCharsets()
    {
        var json = Encoding.UTF8.GetBytes("""{"sql":"\u0044ROP TABLE users"}""");

        Assert.Contains("DROP TABLE", Guardrail.BodyText(json, "application/json", null));
        Assert.Null(Guardrail.BodyText(json, "application/json; charset=utf-16", null));
        Assert.Null(Guardrail.BodyText(json, "application/json", "gzip"));
    }
}
