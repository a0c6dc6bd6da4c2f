using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using Hoop.Data.Entities;
using Hoop.Data.Secrets;
using Hoop.Data.Store;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Policy;
using Hoop.Proxy.Recording;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Support;

/// <summary>
/// Hoop with a real TLS backend behind it (certificate from a test CA), a test OIDC issuer, and the
/// connection "billing" whose stored bearer credential is a canary. Shared by the tests of one class.
/// </summary>
public class DataPathFixture : IAsyncLifetime
{
    public const string Canary = "canary-3f9a1c7e-stored-backend-token";
    public const string Group = "billing-agents";

    private readonly TempFolder _folder = new();

    public TestCertificateAuthority Ca { get; } = new();
    public TestBackend Backend { get; private set; } = null!;
    public TestIssuer Issuer { get; private set; } = null!;
    public HoopTestHost Hoop { get; private set; } = null!;
    public ManualTimeProvider Clock { get; } = new();

    /// <summary>Extra settings a fixture subclass wants.</summary>
    protected virtual IDictionary<string, string?> Settings => new Dictionary<string, string?>();

    /// <summary>Runs before Hoop starts, for fixtures whose settings need something running first.</summary>
    protected virtual Task BeforeStartAsync() => Task.CompletedTask;

    /// <summary>Runs once Hoop and the "billing" connection are up, for fixtures that register more.</summary>
    protected virtual Task AfterStartAsync() => Task.CompletedTask;

    public async Task InitializeAsync()
    {
        await BeforeStartAsync();
        Backend = await TestBackend.StartAsync(Ca.Issue(["localhost", "127.0.0.1"]));
        Issuer = await TestIssuer.StartAsync();
        var settings = new Dictionary<string, string?>
        {
            ["Hoop:Identity:Issuers:0:Authority"] = Issuer.Authority,
            ["Hoop:Identity:Issuers:0:Audience"] = TestIssuer.Audience,
            ["Hoop:Identity:Issuers:0:RequireHttpsMetadata"] = "false",
            ["Hoop:Proxy:BackendTimeoutSeconds"] = "2",
        };
        foreach (var (key, value) in Settings)
        {
            settings[key] = value;
        }

        _settings = settings;
        Hoop = await HoopTestHost.StartAsync(_folder.Path, settings, services => services.AddSingleton<TimeProvider>(Clock));
        var billing = await AddConnectionAsync("billing", Backend.Address, c =>
        {
            c.TlsVerification = TlsVerification.CaBundle;
            c.CaBundlePem = Ca.Pem;
        });
        await AddGroupAsync(Group, billing.Id);
        await AfterStartAsync();
    }

    public IDbContextFactory<HoopDbContext> Contexts => Hoop.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>();

    /// <summary>Registers a connection (bearer credential = the canary unless changed) and makes it live.</summary>
    public async Task<Connection> AddConnectionAsync(string name, Uri address, Action<Connection>? configure = null)
    {
        var secrets = Hoop.Services.GetRequiredService<SecretProtector>();
        var connection = new Connection
        {
            Name = name,
            Kind = ConnectionKind.Http,
            Address = address.ToString(),
            CredentialKind = CredentialKind.Bearer,
            ProtectedCredential = secrets.Protect(Canary),
            CreatedAt = DateTime.UtcNow,
            UpdatedAt = DateTime.UtcNow,
        };
        configure?.Invoke(connection);
        await using var db = await Contexts.CreateDbContextAsync();
        db.Connections.Add(connection);
        await db.SaveChangesAsync();
        await RefreshPolicyAsync();
        return connection;
    }

    public async Task AddGroupAsync(string name, params Guid[] connections)
    {
        await using var db = await Contexts.CreateDbContextAsync();
        var group = new Group { Name = name, Roles = Roles.None, CreatedAt = DateTime.UtcNow, UpdatedAt = DateTime.UtcNow };
        group.Grants.AddRange(connections.Select(c => new Grant { ConnectionId = c, CreatedAt = DateTime.UtcNow }));
        db.Groups.Add(group);
        await db.SaveChangesAsync();
        await RefreshPolicyAsync();
    }

    public async Task GrantAsync(string group, Guid connection)
    {
        await using var db = await Contexts.CreateDbContextAsync();
        var id = await db.Groups.Where(g => g.Name == group).Select(g => g.Id).SingleAsync();
        db.Grants.Add(new Grant { GroupId = id, ConnectionId = connection, CreatedAt = DateTime.UtcNow });
        await db.SaveChangesAsync();
        await RefreshPolicyAsync();
    }

    /// <summary>Creates an API key for the groups and returns the key, as an admin would see it once.</summary>
    public async Task<(Guid Id, string Key)> AddApiKeyAsync(string name, params string[] groups)
    {
        var (key, prefix, hash) = ApiKeys.Generate();
        var entity = new ApiKey { Name = name, Prefix = prefix, KeyHash = hash, Groups = [.. groups], CreatedAt = DateTime.UtcNow, CreatedBy = "test" };
        await using var db = await Contexts.CreateDbContextAsync();
        db.ApiKeys.Add(entity);
        await db.SaveChangesAsync();
        await RefreshPolicyAsync();
        return (entity.Id, key);
    }

    public Task RefreshPolicyAsync() => Hoop.Services.GetRequiredService<PolicyStore>().RefreshAsync(CancellationToken.None);

    public Task FlushRecordingAsync() => Hoop.Services.GetRequiredService<Recorder>().FlushAsync(CancellationToken.None);

    /// <summary>An agent's HTTP client: trusts only Hoop's certificate; every host name dials Hoop's proxy port.</summary>
    public HttpClient Agent(string? bearer = null, Version? version = null)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = HoopTestHost.TrustOnly(Hoop.Certificate) },
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync("127.0.0.1", Hoop.ProxyPort, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        var client = new HttpClient(handler) { BaseAddress = Hoop.ProxyUrl, Timeout = TimeSpan.FromSeconds(60) };
        if (version is not null)
        {
            client.DefaultRequestVersion = version;
            client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    /// <summary>The group reviewers' tokens carry (it holds the reviewer role).</summary>
    public const string Reviewers = "approvers";

    /// <summary>Registers <see cref="Reviewers"/> with the reviewer role, once.</summary>
    public async Task EnsureReviewersAsync()
    {
        using var admin = Hoop.CreateAdminClient();
        if ((await admin.GetAsync($"/api/v1/groups/{Reviewers}")).StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            await AdminApiAssert.CreatedAsync(admin, "/api/v1/groups", new { name = Reviewers, roles = new[] { "reviewer" } });
        }
    }

    /// <summary>A reviewer calling the admin API with their own token (group <see cref="Reviewers"/>).</summary>
    public HttpClient Reviewer(string subject, DateTime? expires = null)
    {
        var client = Hoop.CreateClient(Hoop.ConsoleUrl);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Issuer.Token(subject: subject, groups: [Reviewers], expires: expires));
        return client;
    }

    private Dictionary<string, string?> _settings = [];

    /// <summary>Stops Hoop and starts it again on the same store, as an operator's restart would.</summary>
    public async Task RestartAsync()
    {
        await Hoop.DisposeAsync();
        Hoop = await HoopTestHost.StartAsync(_folder.Path, _settings, services => services.AddSingleton<TimeProvider>(Clock));
    }

    public virtual async Task DisposeAsync()
    {
        await Hoop.DisposeAsync();
        await Backend.DisposeAsync();
        await Issuer.DisposeAsync();
        Ca.Dispose();
        SqliteConnection.ClearAllPools();
        _folder.Dispose();
    }
}
