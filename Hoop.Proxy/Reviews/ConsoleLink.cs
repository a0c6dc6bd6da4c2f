namespace Hoop.Proxy.Reviews;

/// <summary>
/// The console's address for links in review notices: the configured URL with the port the console really listens
/// on (the system may have chosen it), known once the listeners are open.
/// </summary>
public sealed class ConsoleLink(Func<Uri> consoleUrl)
{
    public Uri To(string path) => new(consoleUrl(), path);
}
