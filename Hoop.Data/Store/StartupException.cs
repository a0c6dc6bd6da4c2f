namespace Hoop.Data.Store;

/// <summary>
/// Start-up cannot go on: the message names the setting or file and how to fix it.
/// The host prints it alone (no stack trace) and exits without touching existing data.
/// </summary>
public sealed class StartupException(string message, Exception? inner = null) : Exception(message, inner);
