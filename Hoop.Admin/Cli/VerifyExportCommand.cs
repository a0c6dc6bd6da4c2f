namespace Hoop.Admin.Cli;

internal static class VerifyExportCommand
{
    /// <summary>
    /// <c>hoop verify-export &lt;session.jsonl&gt; &lt;public-key.pem&gt;</c>: checks an exported session offline, with Hoop's
    /// public key (<c>GET /api/v1/recording/public-key</c>) and nothing else. Exit code 0 when intact and sealed, 1
    /// when broken, 3 when a session is not sealed (its chain checked, its end not provable).
    /// </summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        if (args is not [var file, var key])
        {
            await error.WriteLineAsync("usage: hoop verify-export <session.jsonl> <public-key.pem>");
            return 2;
        }

        try
        {
            var report = Management.IntegrityService.VerifyExport(await File.ReadAllLinesAsync(file), await File.ReadAllTextAsync(key));
            await output.WriteLineAsync(report.Intact
                ? $"intact: {report.Events} events{(report.Problem is null ? ", sealed and signed" : $"; {report.Problem}")}"
                : $"BROKEN after {report.Events} good events: {report.Problem}");
            // 0 only for what the seal vouches for: an unsealed session's chain alone proves nothing about its end.
            return !report.Intact ? 1 : report.Problem is null ? 0 : 3;
        }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException or InvalidDataException or KeyNotFoundException
            or ArgumentException or System.Security.Cryptography.CryptographicException)
        {
            await error.WriteLineAsync($"hoop verify-export: cannot read the export or key: {e.Message}");
            return 1;
        }
    }
}
