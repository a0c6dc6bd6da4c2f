using Hoop.Admin.Hosting;
using Hoop.Data.Entities;
using Hoop.Data.Secrets;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Hoop.Tests.Support;

/// <summary>
/// Hoop in front of a real PostgreSQL 15 (TLS from the test CA, SCRAM): the connection "ledger" reaches database
/// ledger as user 'app', whose password is a canary, and group <see cref="PgGroup"/> may use it.
/// </summary>
public class PostgresFixture : DataPathFixture
{
    public const string DatabaseCanary = "canary-5b2e91-pg-backend-password";
    public const string PgGroup = "ledger-agents";

    private readonly TempFolder _files = new();

    public PostgresServer Postgres { get; private set; } = null!;
    public Connection Ledger { get; private set; } = null!;

    /// <summary>Hoop's certificate as PEM, for sslrootcert: agents verify Hoop fully.</summary>
    public string HoopRootFile => Path.Combine(_files.Path, "hoop-root.pem");

    public int PgPort => Hoop.Services.GetRequiredService<Listeners>().PortOf(ListenerKind.Postgres);

    protected override async Task BeforeStartAsync()
    {
        Postgres = await PostgresServer.StartAsync(Ca.Issue(["localhost", "127.0.0.1"]));
        await Postgres.ExecuteAsync($"CREATE ROLE app LOGIN PASSWORD '{DatabaseCanary}'");
        await Postgres.ExecuteAsync("CREATE DATABASE ledger OWNER app");
        await Postgres.ExecuteAsync("""
            SET ROLE app;
            CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text, ssn text, balance numeric(12,2), notes jsonb);
            INSERT INTO customers VALUES
              (1, 'Ada', 'ada@example.com', '123-45-6789', 100.50, '{"contact": "ada@example.com", "tier": 2}'),
              (2, 'Bob', 'bob@example.org', '987-65-4321', 7.00, '{"contact": "call me", "tier": 1}');
            CREATE TABLE orders (id serial PRIMARY KEY, customer int REFERENCES customers, amount numeric(12,2));
            INSERT INTO orders (customer, amount) SELECT 1 + g % 2, g FROM generate_series(1, 50) g;
            """, "ledger");
    }

    protected override async Task AfterStartAsync()
    {
        Ledger = await AddPostgresConnectionAsync("ledger", "ledger");
        await AddGroupAsync(PgGroup, Ledger.Id);
        await File.WriteAllTextAsync(HoopRootFile, Hoop.Certificate.ExportCertificatePem());
    }

    /// <summary>A Postgres connection to <paramref name="database"/> on the test cluster, as 'app' with the canary password, TLS verified.</summary>
    public Task<Connection> AddPostgresConnectionAsync(string name, string database)
    {
        var secrets = Hoop.Services.GetRequiredService<SecretProtector>();
        return AddConnectionAsync(name, new Uri("https://unused"), c =>
        {
            c.Kind = ConnectionKind.Postgres;
            c.Address = $"127.0.0.1:{Postgres.Port}/{database}";
            c.TlsVerification = TlsVerification.CaBundle;
            c.CaBundlePem = Ca.Pem;
            c.CredentialKind = CredentialKind.DatabasePassword;
            c.CredentialName = "app";
            c.ProtectedCredential = secrets.Protect(DatabaseCanary);
        });
    }

    /// <summary>An agent's token for the ledger group.</summary>
    public string Token(string subject = "ledger-bot") => Issuer.Token(subject: subject, groups: [PgGroup]);

    /// <summary>Npgsql as an agent: verifies Hoop's certificate and host name, the token (or API key) as password.</summary>
    public NpgsqlConnection Agent(string password, string database = "ledger", string sslMode = "VerifyFull", string extra = "") => new(
        $"Host=localhost;Port={PgPort};Database={database};Username=agent;Password={password};SSL Mode={sslMode};Root Certificate={HoopRootFile};"
        + $"Pooling=false;Timeout=15;Command Timeout=30;{extra}");

    public async Task<NpgsqlConnection> OpenAgentAsync(string? password = null, string extra = "")
    {
        var connection = Agent(password ?? Token(), extra: extra);
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>Runs a PostgreSQL client tool (psql, pgbench) against Hoop's port; returns exit code and output.</summary>
    public Task<(int ExitCode, string Output, string Error)> RunClientAsync(string tool, string password, params string[] arguments) =>
        Processes.RunAsync(Path.Combine(PostgresServer.Bin, tool), arguments,
            new Dictionary<string, string> { ["PGPASSWORD"] = password, ["PGCONNECT_TIMEOUT"] = "15" });

    /// <summary>The libpq connection string an agent's psql uses.</summary>
    public string Libpq(string database = "ledger", string sslMode = "verify-full") =>
        $"host=localhost port={PgPort} dbname={database} user=agent sslmode={sslMode} sslrootcert={HoopRootFile}";

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Postgres.DisposeAsync();
        _files.Dispose();
    }
}
