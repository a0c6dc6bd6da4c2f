using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Npgsql;

namespace Hoop.Tests.Support;

/// <summary>
/// A throwaway PostgreSQL 15 cluster: initdb in a temp folder, SCRAM passwords, TLS with a test CA's certificate,
/// started with pg_ctl on a free loopback port. As root the cluster runs as the 'postgres' user, as PostgreSQL requires.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    public const string Bin = "/usr/lib/postgresql/15/bin";
    public const string SuperuserPassword = "pg-superuser-for-tests";

    private readonly string _root;

    private PostgresServer(string root, int port)
    {
        _root = root;
        Port = port;
    }

    public int Port { get; }
    private string Data => Path.Combine(_root, "data");

    public static async Task<PostgresServer> StartAsync(X509Certificate2 certificate)
    {
        var root = Path.Combine(Path.GetTempPath(), $"hoop-pg-{Guid.NewGuid():n}");
        Directory.CreateDirectory(root);
        var server = new PostgresServer(root, FreePort());
        var passwordFile = Path.Combine(root, "pwfile");
        await File.WriteAllTextAsync(passwordFile, SuperuserPassword);
        await server.OwnAsync();
        await RunAsync("initdb", "-D", server.Data, "-U", "postgres", $"--pwfile={passwordFile}", "-A", "scram-sha-256", "-E", "UTF8", "--no-locale", "-N");

        await File.WriteAllTextAsync(Path.Combine(server.Data, "server.crt"), certificate.ExportCertificatePem());
        await File.WriteAllTextAsync(Path.Combine(server.Data, "server.key"), certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Path.Combine(server.Data, "server.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        await File.AppendAllTextAsync(Path.Combine(server.Data, "postgresql.conf"), $"""

            port = {server.Port}
            listen_addresses = '127.0.0.1'
            unix_socket_directories = '{root}'
            ssl = on
            fsync = off
            synchronous_commit = off
            full_page_writes = off
            max_connections = 60
            """);
        await server.OwnAsync();
        await RunAsync("pg_ctl", "-D", server.Data, "-l", Path.Combine(root, "log"), "-w", "-t", "60", "start");
        return server;
    }

    /// <summary>The superuser, straight to the server (no Hoop), for setting up and checking.</summary>
    public NpgsqlConnection Direct(string database = "postgres") => new(
        $"Host=127.0.0.1;Port={Port};Database={database};Username=postgres;Password={SuperuserPassword};SSL Mode=Disable;Pooling=false");

    public async Task ExecuteAsync(string sql, string database = "postgres")
    {
        await using var connection = Direct(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async Task<T?> ScalarAsync<T>(string sql, string database = "postgres")
    {
        await using var connection = Direct(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T?)await command.ExecuteScalarAsync();
    }

    /// <summary>As root, the cluster's files belong to 'postgres'.</summary>
    private async Task OwnAsync()
    {
        if (Environment.UserName == "root")
        {
            await RunProcessAsync("chown", "-R", "postgres:postgres", _root);
        }
    }

    private static Task RunAsync(string tool, params string[] arguments) =>
        Environment.UserName == "root"
            ? RunProcessAsync("runuser", ["-u", "postgres", "--", Path.Combine(Bin, tool), .. arguments])
            : RunProcessAsync(Path.Combine(Bin, tool), arguments);

    private static async Task RunProcessAsync(string file, params string[] arguments)
    {
        var (exitCode, output, error) = await Processes.RunAsync(file, arguments);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed ({exitCode}): {error}{output}");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await RunAsync("pg_ctl", "-D", Data, "-m", "immediate", "-w", "stop");
        }
        catch (InvalidOperationException)
        {
            // Not running.
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}
