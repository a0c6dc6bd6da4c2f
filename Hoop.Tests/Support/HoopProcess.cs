using System.Diagnostics;
using System.Text;

namespace Hoop.Tests.Support;

/// <summary>
/// Hoop as an operator runs it: the built Hoop.Admin binary in its own process, configured by environment variables
/// and command-line arguments only, reading the appsettings.json beside it.
/// </summary>
public sealed class HoopProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private HoopProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The binary built beside the tests (Debug or Release, as they are).</summary>
    public static string Binary
    {
        get
        {
            var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                ? "Release" : "Debug";
            return Path.Combine(Repository.Root, "Hoop.Admin", "bin", configuration, "net10.0", "Hoop.Admin");
        }
    }

    public static HoopProcess Start(IReadOnlyDictionary<string, string> environment, IEnumerable<string>? arguments = null)
    {
        var start = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        foreach (var argument in arguments ?? [])
        {
            start.ArgumentList.Add(argument);
        }

        return new HoopProcess(Process.Start(start) ?? throw new InvalidOperationException($"{Binary} did not start."));
    }

    /// <summary>What it printed so far, for a failing test's message.</summary>
    public string Output()
    {
        lock (_output)
        {
            return _output.ToString();
        }
    }

    private void Append(string? line)
    {
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
