namespace Hoop.Proxy.Model;

/// <summary>The recording settings in force: Hoop:Recording, overridden by what an admin saved in the console.</summary>
public sealed record RecordingSettings(RecordingMode Mode, int MaxBodyBytes, TimeSpan SessionIdleTimeout, bool UsersSeeOwnSessions = false)
{
    public static RecordingSettings From(RecordingOptions options) =>
        new(options.Mode, options.MaxBodyBytes, options.SessionIdleTimeout, options.UsersSeeOwnSessions);
}

public enum RecordingMode
{
    Required,
    BestEffort,
}
