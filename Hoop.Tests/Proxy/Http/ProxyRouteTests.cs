using Hoop.Data.Entities;
using Hoop.Proxy.Http;
using Hoop.Proxy.Model;
using Microsoft.AspNetCore.Http;

namespace Hoop.Tests.Proxy.Http;

/// <summary>Which connection a request names: the host route first, then the path route, HTTP connections only.</summary>
public sealed class ProxyRouteTests
{
    private static readonly PolicySnapshot Snapshot = new("test", [Connection("billing", ConnectionKind.Http), Connection("crm", ConnectionKind.Http),
            Connection("warehouse", ConnectionKind.Postgres)], [], [], [], RecordingSettings.From(new RecordingOptions()),
        new CertificateSettings(["hoop.example.com"], new AcmeOptions()), [], new byte[32], []);

    [Theory]
    [InlineData("billing.hoop.example.com", "/crm/x", "billing", null, "/crm/x")]
    [InlineData("BILLING.Hoop.Example.com", "/x", "billing", null, "/x")]
    [InlineData("hoop.example.com", "/Billing/x/y", "billing", "/Billing", "/x/y")]
    [InlineData("hoop.example.com", "/billing", "billing", "/billing", "/")]
    [InlineData("hoop.example.com", "/billing/", "billing", "/billing", "/")]
    [InlineData("a.billing.hoop.example.com", "/crm", "crm", "/crm", "/")]
    public void Find_NamesTheConnection(string host, string path, string name, string? prefix, string backendPath)
    {
        var request = Request(host, path);

        var route = ProxyRoute.Find(request, Snapshot, out var connection);

        Assert.Equal(new ProxyRoute(name, prefix), route);
        Assert.Equal(name, connection!.Name);
        Assert.Equal(backendPath, route!.Value.BackendPath(request));
    }

    [Theory]
    [InlineData("hoop.example.com", "/warehouse/x")] // a Postgres connection has no HTTP route
    [InlineData("warehouse.hoop.example.com", "/x")]
    [InlineData("hoop.example.com", "/")]
    [InlineData("hoop.example.com", "/billingx/y")]
    [InlineData("billing.other.example", "/x")]
    public void Find_NamesNoConnection(string host, string path)
    {
        Assert.Null(ProxyRoute.Find(Request(host, path), Snapshot, out var connection));
        Assert.Null(connection);
    }

    /// <summary>
    /// When the raw target cannot be used as it is (a dot segment), the backend's URL is built from the path Hoop
    /// checked, encoded once: an escaped escape stays an escape, never a dot segment or a letter the backend decodes.
    /// </summary>
    [Theory]
    [InlineData("/billing/./a/%252e%252e/secret", "/billing/a/%2e%2e/secret", "https://backend.test/a/%252e%252e/secret")]
    [InlineData("/billing/./%2561dmin", "/billing/%61dmin", "https://backend.test/%2561dmin")]
    [InlineData("/billing/./x%2Fy", "/billing/x%2Fy", "https://backend.test/x%252Fy")]
    public void BackendUri_WithoutTheRawTarget_EncodesTheCheckedPathOnce(string rawTarget, string kestrelPath, string expected)
    {
        var request = Request("hoop.example.com", "/");
        request.Path = new PathString(kestrelPath); // as Kestrel decoded it (a string would be decoded once more)
        request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()!.RawTarget = rawTarget;
        var route = ProxyRoute.Find(request, Snapshot, out _)!.Value;

        var uri = route.BackendUri(request.HttpContext, "https://backend.test/");

        Assert.Equal(expected, uri.AbsoluteUri);
        Assert.Equal(expected, uri.OriginalString);
    }

    private static HttpRequest Request(string host, string path)
    {
        var context = new DefaultHttpContext();
        context.Request.Host = new HostString(host, 8443);
        context.Request.Path = path;
        return context.Request;
    }

    private static ConnectionPolicy Connection(string name, ConnectionKind kind) => new()
    {
        Id = Guid.NewGuid(),
        Name = name,
        Kind = kind,
        Address = new Uri(kind == ConnectionKind.Http ? "https://backend.test" : "tcp://db.test:5432"),
        Enabled = true,
        TlsVerification = TlsVerification.SystemRoots,
        CredentialKind = CredentialKind.None,
        Version = "1",
    };
}
