using System.Net;
using System.Net.Sockets;

namespace Hoop.Proxy.Limits;

/// <summary>
/// The "source" that per-source limits count: an IPv4 address, or an IPv6 /64 (one host usually holds a whole /64,
/// so counting single IPv6 addresses would give it billions of sources). IPv4-mapped IPv6 counts as IPv4.
/// </summary>
public static class SourceAddress
{
    /// <summary>The source's key, for logs and audit records too; "unknown" when the transport has no address.</summary>
    public static string Of(IPAddress? address)
    {
        if (address is null)
        {
            return "unknown";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes).ToString() + "/64";
    }

    public static string Of(EndPoint? endPoint) => Of((endPoint as IPEndPoint)?.Address);
}
