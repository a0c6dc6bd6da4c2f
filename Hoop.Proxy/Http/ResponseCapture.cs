using System.Net;
using Hoop.Proxy.Recording;

namespace Hoop.Proxy.Http;

/// <summary>
/// Where the first bytes of a backend's response are kept for the recording. The copy is taken as YARP reads
/// the backend's content, so the agent's response stream stays Kestrel's own (no wrapper on the hot path).
/// </summary>
internal sealed class ResponseCapture(int maxBytes)
{
    public int MaxBytes => maxBytes;

    /// <summary>Set once the backend's body starts to be read.</summary>
    public BodyCapture? Body { get; private set; }

    /// <summary>Has the response's content keep its first bytes here as it is read (not an upgraded connection's stream).</summary>
    public void Attach(HttpResponseMessage response)
    {
        if (response.StatusCode != HttpStatusCode.SwitchingProtocols)
        {
            response.Content = new WrappedContent(response.Content, stream => Body = new BodyCapture(stream, maxBytes), keepsLength: true);
        }
    }
}
