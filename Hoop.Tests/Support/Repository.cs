namespace Hoop.Tests.Support;

/// <summary>Paths in the repository the tests run from.</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    /// <summary>A tool installed by ./test.sh into the ignored tools/ folder; a clear failure when it is missing.</summary>
    public static string Tool(params string[] path)
    {
        var full = Path.Combine([Root, "tools", .. path]);
        return File.Exists(full) || Directory.Exists(full)
            ? full
            : throw new InvalidOperationException($"{full} is missing: run ./test.sh once, it installs the tools the tests use.");
    }

    /// <summary>A loopback port nothing listens on right now.</summary>
    /// <summary>
    /// A port free now and not handed out before in this run. Taken below the system's ephemeral range (32768 and up
    /// on Linux), where the listeners that ask the system for port 0 (most test hosts, running in parallel) never land.
    /// </summary>
    public static int FreePort()
    {
        while (true)
        {
            var port = Random.Shared.Next(20_000, 32_000);
            lock (HandedOut)
            {
                if (HandedOut.Contains(port))
                {
                    continue;
                }
            }

            try
            {
                using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
                listener.Start();
            }
            catch (System.Net.Sockets.SocketException)
            {
                continue;
            }

            lock (HandedOut)
            {
                if (HandedOut.Add(port))
                {
                    return port;
                }
            }
        }
    }

    private static readonly HashSet<int> HandedOut = [];

    private static string FindRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "Hoop.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException("Hoop.sln not found above " + AppContext.BaseDirectory);
    }
}
