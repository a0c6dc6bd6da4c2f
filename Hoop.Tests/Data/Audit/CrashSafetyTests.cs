using System.Diagnostics;
using Hoop.Admin.Management;
using Hoop.Data.Entities;
using Hoop.Data.Secrets;
using Hoop.Data.Store;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Model;
using Hoop.Tests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Data.Audit;

/// <summary>Hoop as its own process, killed with SIGKILL in the middle of a burst of recorded requests, then started again.</summary>
public sealed class CrashSafetyTests
{
    [Fact]
    public async Task KillNine_DuringABurst_KeepsEveryCommittedEvent_AndMarksTheSessionInterrupted()
    {
        using var folder = new TempFolder();
        using var ca = new TestCertificateAuthority();
        await using var backend = await TestBackend.StartAsync(ca.Issue(["localhost", "127.0.0.1"]));

        // The store is set up by a first, in-process run: a connection to the backend and an API key for it.
        string key;
        await using (var seed = await HoopTestHost.StartAsync(folder.Path))
        {
            var contexts = seed.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>();
            await using var db = await contexts.CreateDbContextAsync();
            var connection = new Connection
            {
                Name = "billing",
                Kind = ConnectionKind.Http,
                Address = backend.Address.ToString(),
                TlsVerification = TlsVerification.CaBundle,
                CaBundlePem = ca.Pem,
                CredentialKind = CredentialKind.Bearer,
                ProtectedCredential = seed.Services.GetRequiredService<SecretProtector>().Protect(DataPathFixture.Canary),
            };
            var group = new Group { Name = "crash-agents" };
            group.Grants.Add(new Grant { ConnectionId = connection.Id });
            (key, var prefix, var hash) = ApiKeys.Generate();
            db.AddRange(connection, group, new ApiKey { Name = "burst", Prefix = prefix, KeyHash = hash, Groups = ["crash-agents"], CreatedBy = "test" });
            await db.SaveChangesAsync();
        }

        int proxyPort = Repository.FreePort(), consolePort = Repository.FreePort();
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        var start = new ProcessStartInfo(Path.Combine(Repository.Root, "Hoop.Admin", "bin", configuration, "net10.0", "Hoop.Admin"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["Hoop__DataFolder"] = folder.Path,
                ["Hoop__ConsoleUrl"] = $"https://localhost:{consolePort}",
                ["Hoop__ProxyPort"] = proxyPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Hoop__PostgresPort"] = Repository.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Hoop__AcmeHttpPort"] = Repository.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["HOOP_ADMIN_PASSWORD"] = HoopTestHost.AdminPassword,
                ["Serilog__MinimumLevel__Default"] = "Warning",
            },
        };
        using var hoop = Process.Start(start)!;
        var log = Task.WhenAll(hoop.StandardOutput.ReadToEndAsync(), hoop.StandardError.ReadToEndAsync());
        try
        {
            // Whatever certificate it serves: this test is about the recording, not TLS.
            using var client = new HttpClient(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } })
            {
                BaseAddress = new Uri($"https://localhost:{proxyPort}/"),
                Timeout = TimeSpan.FromSeconds(10),
            };
            client.DefaultRequestHeaders.Add(IdentityOptions.ApiKeyHeader, key);
            await WaitReadyAsync(consolePort, hoop, log);

            for (var i = 0; i < 100; i++)
            {
                (await client.GetAsync($"/billing/echo?n={i}")).EnsureSuccessStatusCode();
            }

            // Committed: the store has all of them (read while the process runs, as any reader of the file may).
            var database = Path.Combine(folder.Path, "hoop.db");
            await Eventually.TrueAsync(async () => await CountAsync(database) >= 100);

            // A second burst, killed in the middle.
            var answered = 0;
            var burst = Enumerable.Range(100, 300).Select(async i =>
            {
                try
                {
                    if ((await client.GetAsync($"/billing/echo?n={i}")).IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref answered);
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    // Cut off by the kill.
                }
            }).ToList();
            await Eventually.TrueAsync(() => Task.FromResult(Volatile.Read(ref answered) >= 30));
            hoop.Kill(); // SIGKILL: no shutdown, no flush.
            await hoop.WaitForExitAsync();
            await Task.WhenAll(burst);
        }
        finally
        {
            if (!hoop.HasExited)
            {
                hoop.Kill();
            }
        }

        await using var after = await HoopTestHost.StartAsync(folder.Path);
        var store = after.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>();
        await using var check = await store.CreateDbContextAsync();
        var session = await check.Sessions.SingleAsync(s => s.Subject == "api-key:burst");
        var contents = (await Recorded.EventsAsync(check, session.Id)).Select(e => e.Content).ToList();

        Assert.Equal(SessionStatus.Interrupted, session.Status);
        Assert.True(await check.AuditEvents.AnyAsync(a => a.Action == "session.interrupted" && a.Target == session.Id.ToString()));
        Assert.All(Enumerable.Range(0, 100), i => Assert.Contains(contents, c => c.Contains($"\"?n={i}\"", StringComparison.Ordinal)));
        var report = await after.Services.GetRequiredService<IntegrityService>().VerifySessionAsync(session.Id, "test", CancellationToken.None);
        Assert.True(report!.Intact, report.Problem);
        Assert.Equal(contents.Count, report.Events);
    }

    private static async Task<long> CountAsync(string database)
    {
        await using var connection = new SqliteConnection($"Data Source={database};Mode=ReadOnly;Pooling=false");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT coalesce(sum(Count), 0) FROM SessionChunks";
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static async Task WaitReadyAsync(int consolePort, Process hoop, Task<string[]> log)
    {
        using var probe = new HttpClient(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } })
        {
            Timeout = TimeSpan.FromSeconds(2),
        };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            Assert.False(hoop.HasExited, hoop.HasExited ? string.Join('\n', await log) : "");
            try
            {
                if ((await probe.GetAsync($"https://localhost:{consolePort}/readyz")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }

            await Task.Delay(200);
        }

        Assert.Fail("Hoop did not become ready within 60 s.");
    }
}
