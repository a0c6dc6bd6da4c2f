namespace Hoop.Proxy.Http;

/// <summary>A backend's answer that Hoop cannot pass on as it is (an encoding it cannot search for the stored credential).</summary>
internal sealed class WithheldResponseException(string message) : Exception(message);
