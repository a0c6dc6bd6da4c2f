// Hoop as bench/http.sh and bench/masking.sh measure it: the product's host, Release build, with the HTTP
// connection "bench" (bearer credential injected, TLS to the backend verified with the bench CA) and "masked"
// (the same, with every built-in masking detector on responses), granted to the group "bench",
// tokens from the given OIDC issuer, recording on (Required mode, bodies capped as configured). With
// HOOP_BENCH_PG_ADDRESS (host:port/database) and HOOP_BENCH_PG_PASSWORD (user 'app'), also the Postgres
// connections "pgbench" and "pgmasked" (a column rule masking pgbench's abalance), for bench/postgres.sh.
//   HoopBench <data folder> <proxy port> <console port> <backend url> <ca.pem> <issuer> <audience>
using Hoop.Admin.Hosting;
using Hoop.Data.Entities;
using Hoop.Data.Secrets;
using Hoop.Data.Store;
using Hoop.Proxy.Policy;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

var settings = new Dictionary<string, string?>
{
    ["Hoop:DataFolder"] = args[0],
    ["Hoop:ProxyPort"] = args[1],
    ["Hoop:ConsoleUrl"] = $"https://localhost:{args[2]}",
    ["Hoop:PostgresPort"] = "0",
    ["Hoop:AcmeHttpPort"] = "0",
    ["Hoop:Identity:Issuers:0:Authority"] = args[5],
    ["Hoop:Identity:Issuers:0:Audience"] = args[6],
    ["Hoop:Identity:Issuers:0:RequireHttpsMetadata"] = "false",
    ["HOOP_ADMIN_PASSWORD"] = "bench-admin-password",
    ["Serilog:MinimumLevel:Default"] = "Warning",
};
foreach (var (key, value) in Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
    .Where(e => ((string)e.Key).StartsWith("Hoop__", StringComparison.Ordinal)))
{
    settings[((string)key).Replace("__", ":", StringComparison.Ordinal)] = (string?)value;
}

await using var app = HoopHost.Build([], Console.Out, c => c.AddInMemoryCollection(settings));
await app.StartAsync();

var contexts = app.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>();
await using (var db = await contexts.CreateDbContextAsync())
{
    if (!await db.Connections.AnyAsync(c => c.Name == "bench"))
    {
        var connection = new Connection
        {
            Name = "bench",
            Kind = ConnectionKind.Http,
            Address = args[3],
            TlsVerification = TlsVerification.CaBundle,
            CaBundlePem = await File.ReadAllTextAsync(args[4]),
            CredentialKind = CredentialKind.Bearer,
            ProtectedCredential = app.Services.GetRequiredService<SecretProtector>().Protect("bench-backend-token"),
        };
        // The same backend again, with the built-in detectors masking responses (bench/masking.sh compares the two).
        var masked = new Connection
        {
            Name = "masked",
            Kind = ConnectionKind.Http,
            Address = args[3],
            TlsVerification = TlsVerification.CaBundle,
            CaBundlePem = connection.CaBundlePem,
            CredentialKind = CredentialKind.Bearer,
            ProtectedCredential = connection.ProtectedCredential,
        };
        var group = new Group { Name = "bench" };
        group.Grants.Add(new Grant { ConnectionId = connection.Id });
        group.Grants.Add(new Grant { ConnectionId = masked.Id });
        db.AddRange(connection, masked, group);
        // HOOP_BENCH_DETECTORS (comma-separated) narrows the detectors, to tell their cost from the rest of masking.
        var detectors = Environment.GetEnvironmentVariable("HOOP_BENCH_DETECTORS")?.Split(',') ?? Hoop.Proxy.Masking.Detectors.BuiltIn.Keys.ToArray();
        db.MaskingRules.AddRange(detectors.Select(d => new MaskingRule
        {
            Name = $"bench-{d}",
            Detector = d,
            Directions = MaskDirections.Response | MaskDirections.Recording,
            ConnectionId = masked.Id,
        }));
        await db.SaveChangesAsync();
    }

    if (Environment.GetEnvironmentVariable("HOOP_BENCH_PG_ADDRESS") is { } pgAddress && !await db.Connections.AnyAsync(c => c.Name == "pgbench"))
    {
        var secret = app.Services.GetRequiredService<SecretProtector>().Protect(Environment.GetEnvironmentVariable("HOOP_BENCH_PG_PASSWORD")!);
        var ca = await File.ReadAllTextAsync(args[4]);
        Connection Postgres(string name) => new()
        {
            Name = name,
            Kind = ConnectionKind.Postgres,
            Address = pgAddress,
            TlsVerification = TlsVerification.CaBundle,
            CaBundlePem = ca,
            CredentialKind = CredentialKind.DatabasePassword,
            CredentialName = "app",
            ProtectedCredential = secret,
        };
        var plain = Postgres("pgbench");
        var masked = Postgres("pgmasked");
        var group = await db.Groups.Include(g => g.Grants).SingleAsync(g => g.Name == "bench");
        group.Grants.Add(new Grant { ConnectionId = plain.Id });
        group.Grants.Add(new Grant { ConnectionId = masked.Id });
        db.AddRange(plain, masked);
        db.MaskingRules.Add(new MaskingRule
        {
            Name = "bench-abalance",
            Detector = "column",
            Pattern = "abalance",
            Directions = MaskDirections.Response | MaskDirections.Recording,
            ConnectionId = masked.Id,
        });
        await db.SaveChangesAsync();
    }
}

await app.Services.GetRequiredService<PolicyStore>().RefreshAsync(CancellationToken.None);
Console.WriteLine("hoop-bench ready");
_ = Task.Run(async () =>
{
    // Heap next to resident memory, so a bench run can tell managed growth from native.
    while (true)
    {
        await Task.Delay(TimeSpan.FromSeconds(5));
        var info = GC.GetGCMemoryInfo();
        Console.WriteLine($"hoop-bench heap {info.HeapSizeBytes / (1024 * 1024)} MB, committed {info.TotalCommittedBytes / (1024 * 1024)} MB, gen2 collections {GC.CollectionCount(2)}");
    }
});
await app.WaitForShutdownAsync();
