using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Hoop.Tests.Support;

namespace Hoop.Tests.Proxy.Certificates;

/// <summary>An admin's own certificate through the admin API: checked like ACME's, then served on every port.</summary>
public sealed class CertificateUploadTests : IAsyncLifetime
{
    private readonly TempFolder _folder = new();
    private readonly TestCertificateAuthority _ca = new("Company CA");
    private HoopTestHost _hoop = null!;

    public async Task InitializeAsync() => _hoop = await HoopTestHost.StartAsync(_folder.Path);

    [Fact]
    public async Task BadUploads_AreRefusedBesideTheirField_AndTheCertificateStays()
    {
        var before = _hoop.Certificate.Thumbprint;
        using var admin = Admin();
        using var otherNames = _ca.Issue(["elsewhere.example"]);
        using var right = _ca.Issue(["localhost", "hoop.localhost"]);
        using var otherKey = _ca.Issue(["localhost", "hoop.localhost"]);

        await AdminApiAssert.RefusedAsync(admin, "/api/v1/certificates", new { certificatePem = otherNames.ExportCertificatePem(), privateKeyPem = otherNames.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem() },
            "certificatePem", "does not cover localhost, hoop.localhost");
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/certificates", new { certificatePem = right.ExportCertificatePem(), privateKeyPem = otherKey.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem() },
            "privateKeyPem", "must match the certificate");
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/certificates", new { certificatePem = "not a certificate", privateKeyPem = "" }, "certificatePem", "PEM");
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/certificates", new { pfxBase64 = "%%%" }, "pfxBase64", "base64");
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/certificates", new { pfxBase64 = Convert.ToBase64String(Encoding.ASCII.GetBytes("not a pfx")) }, "pfx", "PKCS#12");

        Assert.Equal(before, (await HoopTestHost.HandshakeAsync(_hoop.ProxyPort)).Thumbprint);
    }

    [Fact]
    public async Task PemUpload_IsServedOnEveryPortAtTheNextHandshake()
    {
        using var admin = Admin();
        using var uploaded = _ca.Issue(["localhost", "hoop.localhost"]);

        var response = await admin.PostAsJsonAsync("/api/v1/certificates", new
        {
            certificatePem = uploaded.ExportCertificatePem() + "\n" + _ca.Pem,
            privateKeyPem = uploaded.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem(),
        });

        Assert.True(HttpStatusCode.Created == response.StatusCode, await response.Content.ReadAsStringAsync());
        Assert.Equal(uploaded.Thumbprint, (await HoopTestHost.HandshakeAsync(_hoop.ProxyPort)).Thumbprint);
        Assert.Equal(uploaded.Thumbprint, (await HoopTestHost.HandshakeAsync(_hoop.ConsolePort)).Thumbprint);
        var listed = await admin.GetFromJsonAsync<JsonElement>("/api/v1/certificates");
        var history = listed.GetProperty("history").EnumerateArray().ToList();
        Assert.Equal(["Uploaded", "SelfSigned"], history.Select(h => h.GetProperty("source").GetString()));
        Assert.DoesNotContain("PRIVATE KEY", listed.GetRawText());
    }

    private HttpClient Admin() => _hoop.CreateAdminClient();

    public async Task DisposeAsync()
    {
        await _hoop.DisposeAsync();
        _ca.Dispose();
        _folder.Dispose();
    }
}
