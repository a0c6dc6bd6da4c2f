using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Hoop.Proxy.Certificates;
using Hoop.Proxy.Certificates.Acme;
using Hoop.Proxy.Model;
using Hoop.Tests.Support;

namespace Hoop.Tests.Proxy.Certificates;

/// <summary>Fast checks of the ACME pieces: timing rules with a fixed clock, the wire format, and a fake server's faults.</summary>
public sealed class AcmeUnitTests
{
    private static readonly DateTime Issued = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void RenewalTime_IsTwoThirdsOfTheLifetime_OrHalfForShortLivedCertificates()
    {
        Assert.Equal(new DateTimeOffset(Issued.AddDays(60)), CertificateRenewal.DueByLifetime(Issued, Issued.AddDays(90)));
        Assert.Equal(new DateTimeOffset(Issued.AddDays(3)), CertificateRenewal.DueByLifetime(Issued, Issued.AddDays(6)));
        Assert.Equal(new DateTimeOffset(Issued.AddDays(5)), CertificateRenewal.DueByLifetime(Issued, Issued.AddDays(10)));
    }

    [Fact]
    public void AriWindow_ARandomMomentInside_ChosenOncePerCertificateAndWindow()
    {
        var renewal = CreateRenewal();
        var start = new DateTimeOffset(Issued.AddDays(55));
        var end = start.AddDays(2);

        var first = renewal.ChooseInWindow("thumb-1", start, end, 0.25);
        Assert.Equal(start.AddHours(12), first);
        Assert.Equal(first, renewal.ChooseInWindow("thumb-1", start, end, 0.9));
        // A new window (the CA moved it, e.g. for a revocation) is a new choice.
        Assert.Equal(start, renewal.ChooseInWindow("thumb-1", start, start.AddDays(1), 0.0));
    }

    [Fact]
    public void Backoff_DoublesFromAMinuteToSixHours_WithJitter_AndHonoursRetryAfter()
    {
        Assert.Equal(TimeSpan.FromMinutes(1), CertificateRenewal.Backoff(1, null, 0.5));
        Assert.Equal(TimeSpan.FromMinutes(8), CertificateRenewal.Backoff(4, null, 0.5));
        Assert.Equal(TimeSpan.FromHours(6), CertificateRenewal.Backoff(30, null, 0.5));
        Assert.Equal(TimeSpan.FromMinutes(0.8), CertificateRenewal.Backoff(1, null, 0.0));
        Assert.Equal(TimeSpan.FromMinutes(1.2), CertificateRenewal.Backoff(1, null, 1.0));
        Assert.Equal(TimeSpan.FromHours(2), CertificateRenewal.Backoff(1, TimeSpan.FromHours(2), 0.5));
    }

    [Fact]
    public void RenewalId_IsTheAuthorityKeyIdAndSerial_Base64Url()
    {
        using var ca = new TestCertificateAuthority();
        using var certificate = ca.Issue(["hoop.test"]);
        var aki = certificate.Extensions.OfType<X509AuthorityKeyIdentifierExtension>().Single().KeyIdentifier!.Value.ToArray();

        var id = CertificateRenewal.RenewalId(certificate);

        Assert.Equal($"{Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(aki)}.{Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(certificate.SerialNumberBytes.ToArray())}", id);
        Assert.DoesNotContain('=', id);
    }

    [Theory]
    [InlineData("acme-tls/1")]
    [InlineData("h2,http/1.1")]
    [InlineData("")]
    public async Task ClientHello_AlpnOfARealHandshake_IsRead(string offered)
    {
        var protocols = offered.Split(',', StringSplitOptions.RemoveEmptyEntries);
        var hello = await CaptureClientHelloAsync(protocols);

        var length = ClientHello.RecordLength(new System.Buffers.ReadOnlySequence<byte>(hello));
        Assert.Equal(hello.Length, length);
        Assert.Equal(protocols, ClientHello.TryReadAlpn(new System.Buffers.ReadOnlySequence<byte>(hello)));
    }

    [Fact]
    public void ClientHello_GarbageOrTruncated_IsNoAlpnNotAnException()
    {
        foreach (var bytes in new[] { Array.Empty<byte>(), "GET / HTTP/1.1\r\n"u8.ToArray(), new byte[] { 0x16, 3, 1, 0xFF, 0xFF, 1 }, RandomNumberGenerator.GetBytes(600) })
        {
            Assert.Empty(ClientHello.TryReadAlpn(new System.Buffers.ReadOnlySequence<byte>(bytes)));
        }
    }

    [Fact]
    public async Task RateLimited_IsAnErrorCarryingRetryAfter()
    {
        var server = new FakeAcmeServer();
        server.OnNewOrder = () => Problem(HttpStatusCode.TooManyRequests, "rateLimited", "too many new orders recently", retryAfter: 3600);
        var client = server.Client();
        client.AccountUrl = "https://acme.test/acct/1";

        var error = await Assert.ThrowsAsync<AcmeException>(() => client.NewOrderAsync(["hoop.test"], null, default));

        Assert.Equal(TimeSpan.FromHours(1), error.RetryAfter);
        Assert.Contains("429 (rateLimited): too many new orders recently", error.Message);
    }

    [Fact]
    public async Task BadNonce_IsRetriedWithTheFreshNonce()
    {
        var server = new FakeAcmeServer();
        var calls = 0;
        server.OnNewOrder = () => ++calls == 1
            ? Problem(HttpStatusCode.BadRequest, "badNonce", "stale nonce")
            : new HttpResponseMessage(HttpStatusCode.Created)
            {
                Headers = { Location = new Uri("https://acme.test/order/1") },
                Content = new StringContent("""{"status":"pending","authorizations":[],"finalize":"https://acme.test/order/1/finalize"}"""),
            };
        var client = server.Client();
        client.AccountUrl = "https://acme.test/acct/1";

        var order = await client.NewOrderAsync(["hoop.test"], null, default);

        Assert.Equal(2, calls);
        Assert.Equal("pending", order.Status);
    }

    [Theory]
    [InlineData("<html>maintenance</html>")]
    [InlineData("[1,2,3]")]
    [InlineData("""{"newNonce":"https://acme.test/nonce"}""")]
    public async Task MalformedDirectory_IsAClearError(string body)
    {
        var server = new FakeAcmeServer { Directory = body };

        var error = await Assert.ThrowsAsync<AcmeException>(() => server.Client().DirectoryAsync(default));

        Assert.StartsWith("The ACME server's answer", error.Message);
    }

    [Fact]
    public async Task ServerError_WithoutProblemDocument_IsAClearError()
    {
        var server = new FakeAcmeServer();
        server.OnNewOrder = () => new HttpResponseMessage(HttpStatusCode.BadGateway) { Content = new StringContent("upstream died") };
        var client = server.Client();
        client.AccountUrl = "https://acme.test/acct/1";

        var error = await Assert.ThrowsAsync<AcmeException>(() => client.NewOrderAsync(["hoop.test"], null, default));

        Assert.Contains("502", error.Message);
    }

    [Fact]
    public async Task RenewalInfo_SuggestedWindowIsRead()
    {
        var server = new FakeAcmeServer();
        var info = await server.Client().RenewalInfoAsync("aki.serial", default);

        Assert.Equal(new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero), info!.Value.Start);
        Assert.Equal(new DateTimeOffset(2026, 3, 3, 0, 0, 0, TimeSpan.Zero), info.Value.End);
        Assert.Equal("/renewal-info/aki.serial", server.LastPath);
    }

    [Theory]
    [InlineData("localhost", false, "'localhost' is a loopback name (.localhost) that no CA can validate.")]
    [InlineData("hoop.localhost", true, "'hoop.localhost' is a loopback name (.localhost) that no CA can validate.")]
    [InlineData("10.0.0.7", true, "'10.0.0.7' is an IP address; ACME orders DNS names only.")]
    [InlineData("::1", true, "'::1' is an IP address; ACME orders DNS names only.")]
    [InlineData("intranet", true, "'intranet' is a single label; CAs issue only full DNS names such as hoop.example.com.")]
    [InlineData("printer.local", false, "'printer.local' is under .local, kept for private or test use, which public CAs such as Let's Encrypt refuse (set Hoop:Acme:AllowReservedNames=true if your CA is private or a test server that issues it).")]
    [InlineData("hoop.internal", false, "'hoop.internal' is under .internal, kept for private or test use, which public CAs such as Let's Encrypt refuse (set Hoop:Acme:AllowReservedNames=true if your CA is private or a test server that issues it).")]
    [InlineData("hoop.test", false, "'hoop.test' is under .test, kept for private or test use, which public CAs such as Let's Encrypt refuse (set Hoop:Acme:AllowReservedNames=true if your CA is private or a test server that issues it).")]
    [InlineData("hoop.test", true, null)]
    [InlineData("hoop.internal", true, null)]
    [InlineData("hoop.example.com", false, null)]
    [InlineData("contest.example.com", false, null)]
    public void AcmeName_NamesNoCaIssues_AreLeftOutWithTheReason(string name, bool allowReservedNames, string? reason)
    {
        Assert.Equal(reason, CertificateSettingsRules.AcmeName(name, allowReservedNames));
    }

    [Fact]
    public void AcmeHostNames_AreTheNamesACaIssues_InTheGivenOrder()
    {
        var settings = new CertificateSettings(["hoop.example.com", "localhost", "agents.example.com", "hoop.test"], new AcmeOptions());

        Assert.Equal(["hoop.example.com", "agents.example.com"], settings.AcmeHostNames);
        Assert.Equal(2, settings.AcmeLeftOut.Count);
        Assert.Equal(["hoop.example.com", "agents.example.com", "hoop.test"],
            (settings with { Acme = new AcmeOptions { AllowReservedNames = true } }).AcmeHostNames);
    }

    [Fact]
    public async Task AuthorizeAll_EveryNameIsValidatedAtOnce()
    {
        // Each authorization turns valid only once every challenge was answered: taken one after another, the
        // first would wait for a second that is never answered.
        var server = new FakeAcmeServer();
        var answered = new HashSet<string>();
        server.OnPath = path =>
        {
            lock (answered)
            {
                if (path.StartsWith("/chall/", StringComparison.Ordinal))
                {
                    answered.Add(path);
                    return Json("""{"type":"http-01","status":"processing"}""");
                }

                var both = answered.Count == 2;
                return path switch
                {
                    "/authz/1" => Json(Authorization("a.hoop.test", "1", both ? "valid" : "pending")),
                    "/authz/2" => Json(Authorization("b.hoop.test", "2", both ? "valid" : "pending")),
                    _ => null,
                };
            }
        };
        var time = new SteppingTimeProvider();
        var client = server.Client(time);
        client.AccountUrl = "https://acme.test/acct/1";
        var challenges = new AcmeChallenges();
        var issuer = new AcmeIssuer(null!, null!, null!, challenges, null!, time, Microsoft.Extensions.Logging.Abstractions.NullLogger<AcmeIssuer>.Instance);
        var order = new AcmeOrder(new Uri("https://acme.test/order/1"), "pending",
            [new Uri("https://acme.test/authz/1"), new Uri("https://acme.test/authz/2")], new Uri("https://acme.test/order/1/finalize"), null, null, null);

        await issuer.AuthorizeAllAsync(client, order, AcmeChallengeType.Http01, Task.CompletedTask, default);

        Assert.Equal(2, answered.Count);
        Assert.False(challenges.AwaitingTlsAlpn01);
    }

    [Fact]
    public async Task Polling_WaitsWhatTheServerAsks_OrStartsShortAndBacksOff()
    {
        var server = new FakeAcmeServer();
        var looks = 0;
        int? retryAfter = 3;
        server.OnPath = path => path == "/authz/1"
            ? Json(Authorization("hoop.test", "1", ++looks < 4 ? "pending" : "valid"), retryAfter)
            : null;
        var time = new SteppingTimeProvider();
        var client = server.Client(time);
        client.AccountUrl = "https://acme.test/acct/1";
        var pending = await client.AuthorizationAsync(new Uri("https://acme.test/authz/1"), default);

        await client.WaitAsync(pending, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(2), default);
        Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(3)], time.Waits);

        (looks, retryAfter) = (0, null);
        time.Waits.Clear();
        pending = await client.AuthorizationAsync(new Uri("https://acme.test/authz/1"), default);
        await client.WaitAsync(pending, null, TimeSpan.FromMinutes(2), default);
        Assert.Equal([AcmeClient.FirstPoll, AcmeClient.FirstPoll * 2, AcmeClient.FirstPoll * 4], time.Waits);
    }

    [Fact]
    public void PollDelay_ACapOnRetryAfter_AndOnTheBackoff()
    {
        Assert.Equal(TimeSpan.FromSeconds(30), AcmeClient.PollDelay(TimeSpan.FromHours(1), 0));
        Assert.Equal(TimeSpan.FromSeconds(2), AcmeClient.PollDelay(null, 20));
        Assert.Equal(AcmeClient.FirstPoll, AcmeClient.PollDelay(TimeSpan.Zero, 0));
    }

    [Fact]
    public async Task AuthorizeAll_WhileTheHostStarts_PreparesTheAnswers_AndTellsTheCaOnlyOnceListening()
    {
        var server = new FakeAcmeServer();
        var told = new List<string>();
        server.OnPath = path =>
        {
            lock (told)
            {
                if (path.StartsWith("/chall/", StringComparison.Ordinal))
                {
                    told.Add(path);
                    return Json("""{"type":"tls-alpn-01","status":"processing"}""");
                }

                var status = told.Count == 2 ? "valid" : "pending";
                return path switch
                {
                    "/authz/1" => Json(Authorization("a.hoop.test", "1", status, "tls-alpn-01")),
                    "/authz/2" => Json(Authorization("b.hoop.test", "2", status, "tls-alpn-01")),
                    _ => null,
                };
            }
        };
        var time = new SteppingTimeProvider();
        var client = server.Client(time);
        client.AccountUrl = "https://acme.test/acct/1";
        var challenges = new AcmeChallenges();
        var issuer = new AcmeIssuer(null!, null!, null!, challenges, null!, time, Microsoft.Extensions.Logging.Abstractions.NullLogger<AcmeIssuer>.Instance);
        var order = new AcmeOrder(new Uri("https://acme.test/order/1"), "pending",
            [new Uri("https://acme.test/authz/1"), new Uri("https://acme.test/authz/2")], new Uri("https://acme.test/order/1/finalize"), null, null, null);
        var listening = new TaskCompletionSource();

        var authorizing = issuer.AuthorizeAllAsync(client, order, AcmeChallengeType.TlsAlpn01, listening.Task, default);
        await Eventually.TrueAsync(() => challenges.TlsAlpn01For("a.hoop.test") is not null && challenges.TlsAlpn01For("b.hoop.test") is not null,
            TimeSpan.FromSeconds(10));

        lock (told)
        {
            Assert.Empty(told);
        }

        listening.SetResult();
        await authorizing;
        Assert.Equal(2, told.Count);
        Assert.False(challenges.AwaitingTlsAlpn01, "the answers are gone once validated");
    }

    private static string Authorization(string name, string id, string status, string type = "http-01") => $$"""
        {"identifier":{"type":"dns","value":"{{name}}"},"status":"{{status}}",
         "challenges":[{"type":"{{type}}","url":"https://acme.test/chall/{{id}}","token":"token-{{id}}","status":"{{(status == "valid" ? "valid" : "pending")}}"}]}
        """;

    private static HttpResponseMessage Json(string body, int? retryAfter = null)
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (retryAfter is { } seconds)
        {
            response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(seconds));
        }

        return response;
    }

    [Fact]
    public void Installer_RefusesACertificateForOtherNamesOrExpired()
    {
        using var ca = new TestCertificateAuthority();
        var installer = new CertificateInstaller(null!, new InboundCertificate(), new PublicRoots(), null!, TimeProvider.System);
        using var other = ca.Issue(["other.test"]);
        using var expired = ca.Issue(["hoop.test"], DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(-1));
        var chain = new X509Certificate2Collection(ca.Certificate);

        Assert.Contains("does not cover hoop.test", Assert.Throws<CertificateRejectedException>(() => installer.Check(other, chain, ["hoop.test"])).Message);
        Assert.Contains("expired", Assert.Throws<CertificateRejectedException>(() => installer.Check(expired, chain, ["hoop.test"])).Message);
        using var good = ca.Issue(["hoop.test"]);
        installer.Check(good, chain, ["hoop.test"]);
    }

    private static CertificateRenewal CreateRenewal() =>
        new(null!, null!, null!, null!, null!, null!, new CertificateStatus(), null!, null!,
            TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<CertificateRenewal>.Instance);

    /// <summary>What a real client (SslStream) sends first, read by a loopback listener that then hangs up.</summary>
    private static async Task<byte[]> CaptureClientHelloAsync(string[] protocols)
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        using var server = await listener.AcceptTcpClientAsync();
        await using var tls = new SslStream(tcp.GetStream());
        var handshake = tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "hoop.test",
            ApplicationProtocols = protocols.Select(p => new SslApplicationProtocol(p)).ToList(),
        });

        var received = new List<byte>();
        var buffer = new byte[4096];
        var stream = server.GetStream();
        while (received.Count < 5 || received.Count < ClientHello.RecordLength(new System.Buffers.ReadOnlySequence<byte>(received.ToArray())))
        {
            var read = await stream.ReadAsync(buffer);
            Assert.NotEqual(0, read);
            received.AddRange(buffer.AsSpan(0, read).ToArray());
        }

        server.Close();
        await Assert.ThrowsAnyAsync<Exception>(() => handshake);
        return received.ToArray();
    }

    private static HttpResponseMessage Problem(HttpStatusCode status, string type, string detail, int? retryAfter = null)
    {
        var response = new HttpResponseMessage(status)
        {
            Content = new StringContent($$"""{"type":"urn:ietf:params:acme:error:{{type}}","detail":"{{detail}}"}""", Encoding.UTF8, "application/problem+json"),
        };
        if (retryAfter is { } seconds)
        {
            response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(seconds));
        }

        return response;
    }

    /// <summary>An in-process ACME server of canned answers, for faults pebble cannot produce (rate limits, broken JSON).</summary>
    private sealed class FakeAcmeServer : HttpMessageHandler
    {
        public string Directory { get; set; } = """
            {"newNonce":"https://acme.test/nonce","newAccount":"https://acme.test/account","newOrder":"https://acme.test/order",
             "renewalInfo":"https://acme.test/renewal-info/"}
            """;

        public Func<HttpResponseMessage> OnNewOrder { get; set; } = () => new HttpResponseMessage(HttpStatusCode.NotFound);

        /// <summary>Answers for other paths (null: not found). Called from several requests at once.</summary>
        public Func<string, HttpResponseMessage?> OnPath { get; set; } = _ => null;

        public string? LastPath { get; private set; }

        public AcmeClient Client(TimeProvider? time = null) =>
            new(new HttpClient(this), new Uri("https://acme.test/directory"), new Jws(ECDsa.Create(ECCurve.NamedCurves.nistP256)), time ?? TimeProvider.System);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var path = request.RequestUri!.AbsolutePath;
            LastPath = path;
            var response = path switch
            {
                "/directory" => new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(Directory) },
                "/nonce" => new HttpResponseMessage(HttpStatusCode.OK),
                "/order" => OnNewOrder(),
                _ when path.StartsWith("/renewal-info/", StringComparison.Ordinal) => new HttpResponseMessage(HttpStatusCode.OK)
                {
                    Content = new StringContent("""{"suggestedWindow":{"start":"2026-03-01T00:00:00Z","end":"2026-03-03T00:00:00Z"}}"""),
                },
                _ => OnPath(path) ?? new HttpResponseMessage(HttpStatusCode.NotFound),
            };
            response.Headers.Add("Replay-Nonce", Guid.NewGuid().ToString("n"));
            return Task.FromResult(response);
        }
    }
}
