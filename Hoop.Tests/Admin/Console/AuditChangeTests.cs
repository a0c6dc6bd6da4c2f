using Hoop.Admin.Console;

namespace Hoop.Tests.Admin.Console;

/// <summary>An audit event's before and after as the audit log's diff shows them.</summary>
public sealed class AuditChangeTests
{
    [Fact]
    public void BeforeAndAfter_AreComparedFieldByField_NestedAsPaths()
    {
        var change = AuditChange.Of("""
            {"before": {"name": "ops", "roles": [], "issuer": null, "tls": {"mode": "SystemRoots"}},
             "after": {"name": "ops", "roles": ["admin", "auditor"], "issuer": "https://idp", "tls": {"mode": "CaBundle"}}}
            """);

        Assert.Equal(
            [
                new AuditChange.Field("issuer", null, "https://idp"),
                new AuditChange.Field("name", "ops", "ops"),
                new AuditChange.Field("roles", "(none)", "admin, auditor"),
                new AuditChange.Field("tls.mode", "SystemRoots", "CaBundle"),
            ],
            change.Fields);
        Assert.Equal(["issuer", "roles", "tls.mode"], change.Fields.Where(f => f.Changed).Select(f => f.Path));
    }

    [Fact]
    public void ACreationOrADeletion_HasOneSideOnly()
    {
        Assert.All(AuditChange.Of("""{"after": {"name": "new"}}""").Fields, f => Assert.Null(f.Before));
        Assert.All(AuditChange.Of("""{"before": {"name": "gone"}}""").Fields, f => Assert.Null(f.After));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not json")]
    [InlineData("""{"events": 3}""")]
    [InlineData("[1, 2]")]
    public void OtherDetails_HaveNoFields_AndAreShownAsTheyAre(string? details) => Assert.Empty(AuditChange.Of(details).Fields);
}
