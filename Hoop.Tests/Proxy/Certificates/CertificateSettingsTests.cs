using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Hoop.Proxy.Certificates.Acme;
using Hoop.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Proxy.Certificates;

/// <summary>Host names and ACME settings changed while Hoop runs, through the admin API (no ACME server needed here).</summary>
public sealed class CertificateSettingsTests : IAsyncLifetime
{
    private readonly TempFolder _folder = new();
    private HoopTestHost _hoop = null!;

    public async Task InitializeAsync() => _hoop = await HoopTestHost.StartAsync(_folder.Path);

    [Fact]
    public async Task BadSettings_AreRefusedBesideEachField_AndNothingChanges()
    {
        using var admin = _hoop.CreateAdminClient();

        var response = await admin.PutAsJsonAsync("/api/v1/settings/certificates", new
        {
            hostNames = new[] { "hoop.test", "not a name!" },
            directoryUrl = "http://acme.test/directory",
            email = "nobody",
            eabKeyId = "kid-1",
            eabMacKey = "%%%",
            challenge = "dns-01",
            keyType = "dsa-1024",
        });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var errors = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors");
        Assert.Contains("'not a name!' is not a host name", errors.GetProperty("hostNames")[0].GetString());
        Assert.Contains("not an https URL", errors.GetProperty("directoryUrl")[0].GetString());
        Assert.Contains("not an email address", errors.GetProperty("email")[0].GetString());
        Assert.Contains("base64url", errors.GetProperty("eabMacKey")[0].GetString());
        Assert.Contains("http-01", errors.GetProperty("challenge")[0].GetString());
        Assert.Contains("ecdsa-p256", errors.GetProperty("keyType")[0].GetString());
        var now = await admin.GetFromJsonAsync<JsonElement>("/api/v1/settings/certificates");
        Assert.False(now.GetProperty("saved").GetBoolean());
        Assert.Equal(["localhost", "hoop.localhost"], now.GetProperty("hostNames").EnumerateArray().Select(n => n.GetString()));
    }

    [Fact]
    public async Task EabMacKey_IsWriteOnly_AndNeverStoredInPlaintext()
    {
        const string Canary = "Y2FuYXJ5LWVhYi1tYWMta2V5LTdmM2E5";
        using var admin = _hoop.CreateAdminClient();

        var saved = await admin.PutAsJsonAsync("/api/v1/settings/certificates", new { eabKeyId = "kid-1", eabMacKey = Canary });
        var without = await admin.PutAsJsonAsync("/api/v1/settings/certificates", new { eabKeyId = "kid-2" });

        Assert.True(saved.IsSuccessStatusCode, await saved.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, without.StatusCode);
        var view = await admin.GetStringAsync("/api/v1/settings/certificates");
        Assert.Contains("\"eabMacKeySet\":true", view);
        Assert.Contains("kid-1", view);
        var inForce = _hoop.Services.GetRequiredService<Hoop.Proxy.Policy.PolicyStore>().Current.Certificates;
        Assert.Equal(Canary, inForce.Acme.EabMacKey);
        Assert.DoesNotContain(Canary, inForce.ToString());
        Assert.DoesNotContain(Canary, await saved.Content.ReadAsStringAsync());
        Assert.DoesNotContain(Canary, await admin.GetStringAsync("/api/v1/audit"));
        foreach (var file in Directory.GetFiles(_folder.Path, "hoop.db*"))
        {
            Assert.DoesNotContain(Canary, Encoding.UTF8.GetString(File.ReadAllBytes(file)));
        }
    }

    [Fact]
    public async Task HostNamesChangedWithoutAcme_GetASelfSignedCertificateForThem()
    {
        using var admin = _hoop.CreateAdminClient();

        (await admin.PutAsJsonAsync("/api/v1/settings/certificates", new { hostNames = new[] { "gateway.test", "localhost" } })).EnsureSuccessStatusCode();

        await Eventually.TrueAsync(() => _hoop.Certificate.MatchesHostname("gateway.test"), TimeSpan.FromSeconds(10));
        using var served = await HoopTestHost.HandshakeAsync(_hoop.ProxyPort, "gateway.test");
        Assert.True(served.MatchesHostname("gateway.test"));
        Assert.False(served.MatchesHostname("hoop.localhost"), "the name taken out is no longer on the certificate");
    }

    [Fact]
    public async Task AcmeSwitchedOnWithOnlyLocalNames_IsRefusedBesideHostNames_WithEachReason()
    {
        using var admin = _hoop.CreateAdminClient();

        var response = await admin.PutAsJsonAsync("/api/v1/settings/certificates", new { directoryUrl = "https://acme.example.com/directory" });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var reasons = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").GetProperty("hostNames")
            .EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Collection(reasons,
            r => Assert.Equal("ACME needs at least one host name a CA can issue, such as hoop.example.com.", r),
            r => Assert.StartsWith("'localhost' is a loopback name", r),
            r => Assert.StartsWith("'hoop.localhost' is a loopback name", r));
        var now = await admin.GetFromJsonAsync<JsonElement>("/api/v1/settings/certificates");
        Assert.False(now.GetProperty("saved").GetBoolean());
    }

    [Fact]
    public async Task AcmeConfiguredWithOnlyLocalNames_OrdersNothing_AndNamesTheSettingToChange()
    {
        var folder = new TempFolder();
        try
        {
            // A directory nothing listens on: reaching it would be another error than the one expected.
            await using var hoop = await HoopTestHost.StartAsync(folder.Path, new Dictionary<string, string?>
            {
                ["Hoop:Acme:DirectoryUrl"] = $"https://127.0.0.1:{Repository.FreePort()}/directory",
            });
            var status = hoop.Services.GetRequiredService<CertificateStatus>();

            await Eventually.TrueAsync(() => status.LastError is not null, TimeSpan.FromSeconds(10));

            Assert.StartsWith("No host name can be ordered: 'localhost' is a loopback name", status.LastError);
            Assert.Contains("'hoop.localhost' is a loopback name", status.LastError);
            Assert.Contains("Set Hoop:HostNames", status.LastError);
            Assert.True(hoop.Certificate.MatchesHostname("hoop.localhost"), "the self-signed certificate keeps serving the local names");
        }
        finally
        {
            folder.Dispose();
        }
    }

    [Fact]
    public async Task ExpiringCertificate_WhoseRenewalFails_CallsTheAlertWebhook()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var folder = new TempFolder();
        try
        {
            await using var hoop = await HoopTestHost.StartAsync(folder.Path, new Dictionary<string, string?>
            {
                // Nothing listens there: every order fails.
                ["Hoop:Acme:DirectoryUrl"] = $"https://127.0.0.1:{Repository.FreePort()}/directory",
                ["Hoop:Acme:AlertWebhook"] = receiver.Url.ToString(),
                ["Hoop:HostNames:0"] = "hoop.example.com",
            });
            using var admin = hoop.CreateAdminClient();
            using var ca = new TestCertificateAuthority("Company CA");
            using var shortLived = ca.Issue(["hoop.example.com"], DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(10));
            (await admin.PostAsJsonAsync("/api/v1/certificates", new
            {
                certificatePem = shortLived.ExportCertificatePem(),
                privateKeyPem = shortLived.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem(),
            })).EnsureSuccessStatusCode();

            Assert.Equal(HttpStatusCode.Accepted, (await admin.PostAsync("/api/v1/certificates/renew", null)).StatusCode);
            var status = hoop.Services.GetRequiredService<CertificateStatus>();
            await Eventually.TrueAsync(() => receiver.Received.Count > 0, TimeSpan.FromSeconds(10), () => $"{status.LastError} / {status.Expiring}");

            var alert = receiver.Received[0];
            Assert.Equal("certificate.expiring", alert.GetProperty("event").GetString());
            Assert.InRange(alert.GetProperty("daysLeft").GetInt32(), 9, 10);
            Assert.Contains("could not be reached", alert.GetProperty("error").GetString());
            Assert.True(hoop.Services.GetRequiredService<CertificateStatus>().Expiring);
            Assert.Equal(shortLived.Thumbprint, hoop.Certificate.Thumbprint);
        }
        finally
        {
            folder.Dispose();
        }
    }


    public async Task DisposeAsync()
    {
        await _hoop.DisposeAsync();
        _folder.Dispose();
    }
}
