using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.DataProtection;

namespace Hoop.Data.Secrets;

/// <summary>
/// Encrypts the secrets Hoop keeps (backend credentials, private keys) for storage.
/// Only the data path and certificate code unprotect; nothing that renders or logs does.
/// </summary>
public sealed class SecretProtector(IDataProtectionProvider provider)
{
    private readonly IDataProtector _protector = provider.CreateProtector("Hoop.Secrets.v1");

    public string Protect(string secret) => Protect(Encoding.UTF8.GetBytes(secret));

    public string Protect(byte[] secret) => Convert.ToBase64String(_protector.Protect(secret));

    public string UnprotectString(string protectedSecret) => Encoding.UTF8.GetString(UnprotectBytes(protectedSecret));

    public byte[] UnprotectBytes(string protectedSecret)
    {
        try
        {
            return _protector.Unprotect(Convert.FromBase64String(protectedSecret));
        }
        catch (FormatException e)
        {
            // The message says nothing about the value: it may be a secret.
            throw new CryptographicException("A stored secret is not in the protected format.", e);
        }
    }
}
