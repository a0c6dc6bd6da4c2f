using System.Security.Cryptography;
using Hoop.Data.Store;

namespace Hoop.Data.Secrets;

/// <summary>
/// The 256-bit key that encrypts the Data Protection key ring (and so, indirectly, every stored secret).
/// It comes from HOOP_MASTER_KEY, or from a key file created on first run with owner-only permissions.
/// It is the one thing that is not in the store: back it up apart from the database.
/// </summary>
public sealed class MasterKey
{
    public const string EnvironmentVariable = "HOOP_MASTER_KEY";
    public const int Length = 32;

    private readonly byte[] _key;

    private MasterKey(byte[] key) => _key = key;

    internal ReadOnlySpan<byte> Key => _key;

    /// <summary>A key for one purpose (HKDF-SHA256): stable while the master key is, and revealing nothing of it.</summary>
    public byte[] Derive(string purpose, int length = Length) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, _key, length, info: System.Text.Encoding.UTF8.GetBytes(purpose));

    /// <summary>A value derived from the key that reveals nothing of it, so a store can tell whether it is the same key.</summary>
    public string CheckValue => Convert.ToBase64String(HMACSHA256.HashData(_key, "Hoop master key check v1"u8));

    /// <summary>
    /// Loads the key, creating the file only when the store is new: on a store that already has secrets,
    /// a new key would make them unreadable, so a missing key file is an error there.
    /// </summary>
    public static MasterKey Load(StoreOptions options, string? fromEnvironment, bool storeExists)
    {
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return new MasterKey(Decode(fromEnvironment.Trim(),
                $"{EnvironmentVariable} is not a base64 encoding of {Length} bytes. Set it to the output of `openssl rand -base64 {Length}`, or unset it to use {options.MasterKeyFile}."));
        }

        var path = options.MasterKeyFile;
        if (File.Exists(path))
        {
            string text;
            try
            {
                text = File.ReadAllText(path).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new StartupException($"The master key file {path} cannot be read ({e.Message}). Give the Hoop user read access to it.", e);
            }

            return new MasterKey(Decode(text,
                $"The master key file {path} is corrupt: it must hold a base64 encoding of {Length} bytes. Restore it from your backup; Hoop will not replace it, because the secrets in {options.DatabasePath} can only be read with the original key."));
        }

        if (storeExists)
        {
            throw new StartupException(
                $"The store {options.DatabasePath} exists but its master key file {path} is missing. Restore the key file from your backup (or set {EnvironmentVariable}); Hoop will not create a new key, because the stored secrets can only be read with the original one.");
        }

        var key = RandomNumberGenerator.GetBytes(Length);
        WriteOwnerOnly(path, Convert.ToBase64String(key) + "\n");
        return new MasterKey(key);
    }

    private static byte[] Decode(string text, string error)
    {
        var buffer = new byte[Length + 3];
        if (!Convert.TryFromBase64String(text, buffer, out var written) || written != Length)
        {
            throw new StartupException(error);
        }

        return buffer[..Length];
    }

    private static void WriteOwnerOnly(string path, string content)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(content);
    }
}
