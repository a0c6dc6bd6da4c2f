using System.Security.Cryptography;
using Hoop.Data.Secrets;
using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Data.Audit;

/// <summary>
/// The keys of tamper evidence: the MAC key of the chains (derived from the master key, so the store alone cannot
/// recompute a chain) and the ECDSA P-256 key that signs sealed sessions (kept in the store, encrypted; its public
/// half verifies an export anywhere).
/// </summary>
public sealed class RecordSeal(IDbContextFactory<HoopDbContext> contexts, MasterKey masterKey, SecretProtector secrets)
{
    public const string SigningKeySetting = "recording.signing-key";

    private readonly byte[] _macKey = masterKey.Derive("hoop record chain mac v1");
    private readonly SemaphoreSlim _loading = new(1, 1);
    private ECDsa? _signer;

    public string Mac(ReadOnlySpan<byte> hash) => RecordChain.Hex(HMACSHA256.HashData(_macKey, hash));

    /// <summary>The MAC of a text (the audit chain's head record).</summary>
    public string Mac(string text) => Mac(System.Text.Encoding.UTF8.GetBytes(text));

    public async Task<string> SignAsync(byte[] manifest, CancellationToken cancellationToken) =>
        Convert.ToBase64String((await SignerAsync(cancellationToken)).SignData(manifest, HashAlgorithmName.SHA256));

    /// <summary>The public key that verifies sealed sessions, as PEM (SubjectPublicKeyInfo).</summary>
    public async Task<string> PublicKeyPemAsync(CancellationToken cancellationToken) =>
        (await SignerAsync(cancellationToken)).ExportSubjectPublicKeyInfoPem();

    public static bool Verify(string publicKeyPem, byte[] manifest, string signature)
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(publicKeyPem);
        try
        {
            return key.VerifyData(manifest, Convert.FromBase64String(signature), HashAlgorithmName.SHA256);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private async Task<ECDsa> SignerAsync(CancellationToken cancellationToken)
    {
        if (_signer is { } ready)
        {
            return ready;
        }

        await _loading.WaitAsync(cancellationToken);
        try
        {
            if (_signer is not null)
            {
                return _signer;
            }

            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            var stored = await db.Settings.AsNoTracking().FirstOrDefaultAsync(s => s.Key == SigningKeySetting, cancellationToken);
            var key = ECDsa.Create();
            if (stored is not null)
            {
                key.ImportPkcs8PrivateKey(secrets.UnprotectBytes(stored.Value), out _);
            }
            else
            {
                key.GenerateKey(ECCurve.NamedCurves.nistP256);
                await db.PutSettingAsync(SigningKeySetting, secrets.Protect(key.ExportPkcs8PrivateKey()), DateTime.UtcNow, cancellationToken);
                await db.SaveChangesAsync(cancellationToken);
            }

            return _signer = key;
        }
        finally
        {
            _loading.Release();
        }
    }
}
