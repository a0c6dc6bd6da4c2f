using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Secrets;
using Hoop.Data.Store;
using Hoop.Proxy.Policy;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>
/// Registers connections: validation, the write-only credential, the audit event in the same transaction,
/// and the policy reload. The admin API and the console both call this, so both validate and audit alike.
/// </summary>
public sealed partial class ConnectionService(
    IDbContextFactory<HoopDbContext> contexts,
    SecretProtector secrets,
    AuditLog audit,
    PolicyStore policy,
    TimeProvider time) : IRecordService<ConnectionInput, ConnectionView>
{
    public string Kind => "connection";

    public string KeyOf(ConnectionView view) => view.Name;

    public string? VersionOf(ConnectionView view) => view.Version;

    public async Task<IReadOnlyList<ConnectionView>> ListAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var connections = await db.Connections.AsNoTracking().Include(c => c.Grants).ThenInclude(g => g.Group)
            .OrderBy(c => c.Name).ToListAsync(cancellationToken);
        return connections.Select(View).ToList();
    }

    public async Task<ConnectionView?> GetAsync(string name, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var connection = await Find(db, name).AsNoTracking().FirstOrDefaultAsync(cancellationToken);
        return connection is null ? null : View(connection);
    }

    public async Task<ChangeResult<ConnectionView>> CreateAsync(ConnectionInput input, string actor, CancellationToken cancellationToken)
    {
        var errors = Validate(input, existing: null);
        if (errors.Any)
        {
            return ChangeResult<ConnectionView>.Invalid(errors.ToDictionary());
        }

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        if (await db.Connections.AnyAsync(c => c.Name == input.Name, cancellationToken))
        {
            return new(ChangeStatus.Conflict, Errors: new Dictionary<string, string[]> { ["name"] = [$"A connection named '{input.Name}' exists already."] });
        }

        var now = time.GetUtcNow().UtcDateTime;
        var connection = new Connection { Name = input.Name!, Address = input.Address!.Trim(), CreatedAt = now };
        Apply(connection, input, now);
        db.Connections.Add(connection);
        db.AuditEvents.Add(audit.Create(actor, "connection.create", connection.Name, AuditOutcome.Success, new { after = Describe(connection) }));
        await db.SaveChangesAsync(cancellationToken);
        await policy.RefreshAsync(cancellationToken);
        return new(ChangeStatus.Created, View(connection));
    }

    public async Task<ChangeResult<ConnectionView>> UpdateAsync(string name, ConnectionInput input, string? expectedVersion, string actor, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var (connection, problem) = await LoadForChangeAsync(db, name, expectedVersion, cancellationToken);
        if (connection is null)
        {
            return problem!;
        }

        var errors = Validate(input, connection);
        if (input.Name is not null && input.Name != connection.Name)
        {
            errors.Add("name", "A connection cannot be renamed: agents and recordings refer to it by name. Create a new one.");
        }

        if (errors.Any)
        {
            return ChangeResult<ConnectionView>.Invalid(errors.ToDictionary());
        }

        var before = Describe(connection);
        var now = time.GetUtcNow().UtcDateTime;
        Apply(connection, input, now);
        db.AuditEvents.Add(audit.Create(actor, "connection.update", connection.Name, AuditOutcome.Success, new { before, after = Describe(connection) }));
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            return ChangeResult<ConnectionView>.Stale();
        }

        await policy.RefreshAsync(cancellationToken);
        return new(ChangeStatus.Ok, View(connection));
    }

    public async Task<ChangeResult<ConnectionView>> DeleteAsync(string name, string? expectedVersion, string actor, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var (connection, problem) = await LoadForChangeAsync(db, name, expectedVersion, cancellationToken);
        if (connection is null)
        {
            return problem!;
        }

        db.Connections.Remove(connection);
        db.AuditEvents.Add(audit.Create(actor, "connection.delete", connection.Name, AuditOutcome.Success, new { before = Describe(connection) }));
        await db.SaveChangesAsync(cancellationToken);
        await policy.RefreshAsync(cancellationToken);
        return new(ChangeStatus.Ok);
    }

    /// <summary>The connection to change, or why not: missing, or changed since the caller read it (If-Match).</summary>
    private static async Task<(Connection?, ChangeResult<ConnectionView>?)> LoadForChangeAsync(
        HoopDbContext db, string name, string? expectedVersion, CancellationToken cancellationToken)
    {
        var connection = await Find(db, name).FirstOrDefaultAsync(cancellationToken);
        return ChangeResult<ConnectionView>.Refuses(connection, expectedVersion, out var refusal) ? (null, refusal) : (connection, null);
    }

    private void Apply(Connection connection, ConnectionInput input, DateTime now)
    {
        connection.Kind = input.Kind ?? connection.Kind;
        connection.Address = input.Address?.Trim() ?? connection.Address;
        connection.TlsVerification = input.TlsVerification ?? connection.TlsVerification;
        connection.CaBundlePem = connection.TlsVerification == TlsVerification.CaBundle ? input.CaBundlePem ?? connection.CaBundlePem : null;
        connection.PinnedCertificateSha256 = connection.TlsVerification == TlsVerification.Pinned
            ? NormalizeSha256(input.PinnedCertificateSha256) ?? connection.PinnedCertificateSha256
            : null;
        connection.Enabled = input.Enabled ?? connection.Enabled;
        connection.RetentionDays = input.RetentionDays ?? connection.RetentionDays;
        connection.UpdatedAt = now;
        if (input.Credential is { } credential)
        {
            connection.CredentialKind = credential.Kind;
            connection.CredentialName = string.IsNullOrWhiteSpace(credential.Name) ? null : credential.Name.Trim();
            if (credential.Kind == CredentialKind.None)
            {
                connection.ProtectedCredential = null;
                connection.CredentialChangedAt = now;
            }
            else if (credential.Secret is not null)
            {
                connection.ProtectedCredential = credential.Kind == CredentialKind.ClientCertificate
                    ? secrets.Protect(Convert.FromBase64String(credential.Secret))
                    : secrets.Protect(credential.Secret);
                connection.CredentialChangedAt = now;
            }
        }
    }

    private static FieldErrors Validate(ConnectionInput input, Connection? existing)
    {
        var errors = new FieldErrors();
        if (existing is null && (input.Name is null || !NamePattern().IsMatch(input.Name)))
        {
            errors.Add("name", "Use 1 to 63 lower-case letters, digits and dashes, starting and ending with a letter or digit: the name is a host-name label.");
        }
        else if (existing is null && input.Name == "new")
        {
            errors.Add("name", "'new' is taken by the console: /connections/new is the form for a new connection. Choose another name.");
        }

        var kind = input.Kind ?? existing?.Kind;
        if (kind is null)
        {
            errors.Add("kind", "Choose Http or Postgres.");
        }
        else if (!FieldRules.Defined(errors, "kind", kind))
        {
            kind = null; // no address rules to check it against: the kind is refused already
        }

        FieldRules.Defined(errors, "tlsVerification", input.TlsVerification);
        var addressReadable = FieldRules.Line(errors, "address", input.Address, FieldRules.AddressLength);
        var address = input.Address?.Trim() ?? existing?.Address;
        var tls = input.TlsVerification ?? existing?.TlsVerification ?? TlsVerification.SystemRoots;
        if (!addressReadable)
        {
            // Refused above: too long or not one line of text.
        }
        else if (string.IsNullOrEmpty(address))
        {
            errors.Add("address", "The backend address is required.");
        }
        else if (kind == ConnectionKind.Http)
        {
            if (!Uri.TryCreate(address, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp)
                || !string.IsNullOrEmpty(url.UserInfo) || !string.IsNullOrEmpty(url.Query) || !string.IsNullOrEmpty(url.Fragment))
            {
                errors.Add("address", "Use an https:// URL of the backend, without credentials, query or fragment (for example https://api.example.com/).");
            }
            else if ((url.Scheme == Uri.UriSchemeHttp) != (tls == TlsVerification.Plaintext))
            {
                errors.Add("tlsVerification", url.Scheme == Uri.UriSchemeHttp
                    ? "An http:// address sends everything in clear: set TLS verification to Plaintext to confirm that is intended."
                    : "Plaintext needs an http:// address.");
            }
        }
        else if (kind == ConnectionKind.Postgres && !HostPortPattern().IsMatch(address))
        {
            errors.Add("address", "Use host:port of the database server, and /database when it is not the user's own (for example db.internal:5432/ledger).");
        }

        if (input.CaBundlePem is { Length: > FieldRules.SecretLength })
        {
            errors.Add("caBundlePem", $"A CA bundle is at most {FieldRules.SecretLength:N0} characters.");
        }
        else if (tls == TlsVerification.CaBundle)
        {
            var pem = input.CaBundlePem ?? existing?.CaBundlePem;
            if (string.IsNullOrWhiteSpace(pem) || !ParsesAsCertificates(pem))
            {
                errors.Add("caBundlePem", "Paste one or more PEM certificates (-----BEGIN CERTIFICATE-----) of the CAs that issue the backend's certificate.");
            }
        }

        if (FieldRules.Line(errors, "pinnedCertificateSha256", input.PinnedCertificateSha256) && tls == TlsVerification.Pinned && NormalizeSha256(input.PinnedCertificateSha256 ?? existing?.PinnedCertificateSha256) is null)
        {
            errors.Add("pinnedCertificateSha256", "Give the SHA-256 of the backend's certificate as 64 hex digits (colons allowed).");
        }

        if (input.Credential is { } credential && FieldRules.Defined(errors, "credential.kind", (CredentialKind?)credential.Kind)
            && FieldRules.Line(errors, "credential.name", credential.Name) && SecretReadable(credential, errors))
        {
            var hasSecret = credential.Secret is not null || (existing?.ProtectedCredential is not null && existing.CredentialKind == credential.Kind);
            if (credential.Kind != CredentialKind.None && !hasSecret)
            {
                errors.Add("credential.secret", "The secret is required for this credential kind.");
            }

            if (credential.Kind is CredentialKind.Basic or CredentialKind.Header or CredentialKind.DatabasePassword && string.IsNullOrWhiteSpace(credential.Name))
            {
                errors.Add("credential.name", credential.Kind == CredentialKind.Header ? "Name the header the backend reads the secret from." : "The user name is required.");
            }

            if (credential.Kind == CredentialKind.Header && credential.Name is { } header && !HeaderNamePattern().IsMatch(header))
            {
                errors.Add("credential.name", "That is not a valid HTTP header name.");
            }

            if (credential.Kind == CredentialKind.Basic && credential.Name?.Contains(':', StringComparison.Ordinal) == true)
            {
                errors.Add("credential.name", "A Basic user name cannot hold ':' (it separates the name from the password).");
            }

            if (credential.Kind == CredentialKind.ClientCertificate && credential.Secret is { } pfx && !ParsesAsPkcs12(pfx))
            {
                errors.Add("credential.secret", "Give the client certificate and its key as base64 of a PKCS#12 (PFX) file without a password.");
            }

            if ((credential.Kind == CredentialKind.DatabasePassword) != (kind == ConnectionKind.Postgres) && credential.Kind != CredentialKind.None)
            {
                errors.Add("credential.kind", kind == ConnectionKind.Postgres ? "Postgres connections take a DatabasePassword credential." : "DatabasePassword is for Postgres connections.");
            }
        }

        if (input.RetentionDays is < 1 or > 36_500)
        {
            errors.Add("retentionDays", "Keep recordings from 1 to 36,500 days, or leave it empty to keep them until deleted.");
        }

        return errors;
    }

    /// <summary>
    /// The secret as the backend will get it: a bearer token or a header value travels as it is in an HTTP header,
    /// so printable ASCII only (a line break would end the header: the request fails at the backend as 502);
    /// a Basic password is base64-encoded there and a database password goes in a Postgres message, so any text
    /// without control characters; a client certificate is base64.
    /// </summary>
    private static bool SecretReadable(CredentialInput credential, FieldErrors errors)
    {
        if (credential.Secret is not { } secret || credential.Kind == CredentialKind.None)
        {
            return true;
        }

        if (credential.Kind is CredentialKind.Bearer or CredentialKind.Header)
        {
            if (secret.Length > FieldRules.HeaderSecretLength || secret.Any(c => c is not ('\t' or (>= ' ' and <= '~'))) || secret.Trim().Length != secret.Length)
            {
                errors.Add("credential.secret", $"A secret sent in an HTTP header is printable ASCII without line breaks or surrounding spaces, at most {FieldRules.HeaderSecretLength:N0} characters.");
                return false;
            }

            return true;
        }

        return FieldRules.Line(errors, "credential.secret", secret, credential.Kind == CredentialKind.ClientCertificate ? FieldRules.SecretLength : FieldRules.HeaderSecretLength);
    }

    private static bool ParsesAsCertificates(string pem)
    {
        try
        {
            var bundle = new X509Certificate2Collection();
            bundle.ImportFromPem(pem);
            return bundle.Count > 0;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static bool ParsesAsPkcs12(string base64)
    {
        try
        {
            using var certificate = X509CertificateLoader.LoadPkcs12(Convert.FromBase64String(base64), null);
            return certificate.HasPrivateKey;
        }
        catch (Exception e) when (e is FormatException or CryptographicException)
        {
            return false;
        }
    }

    private static string? NormalizeSha256(string? value)
    {
        var hex = value?.Replace(":", "", StringComparison.Ordinal).Trim().ToUpperInvariant();
        return hex is { Length: 64 } && hex.All(Uri.IsHexDigit) ? hex : null;
    }

    private static IQueryable<Connection> Find(HoopDbContext db, string name) =>
        db.Connections.Include(c => c.Grants).ThenInclude(g => g.Group).Where(c => c.Name == name);

    internal static ConnectionView View(Connection c) => new(
        c.Id, c.Name, c.Kind, c.Address, c.TlsVerification,
        c.TlsVerification is TlsVerification.Plaintext or TlsVerification.Unverified,
        c.PinnedCertificateSha256, c.CaBundlePem is not null,
        new CredentialView(c.CredentialKind, c.CredentialName, c.ProtectedCredential is not null, c.CredentialChangedAt),
        c.Enabled, c.RetentionDays,
        c.Grants.Where(g => g.Group is not null).Select(g => g.Group!.Name).Order(StringComparer.Ordinal).ToList(),
        c.Version.ToString("n"));

    /// <summary>The audit record's picture of a connection: everything but the secret.</summary>
    private static object Describe(Connection c) => new
    {
        c.Name, c.Kind, c.Address, c.TlsVerification, c.PinnedCertificateSha256, caBundle = c.CaBundlePem is not null,
        credential = new { c.CredentialKind, c.CredentialName, set = c.ProtectedCredential is not null, c.CredentialChangedAt },
        c.Enabled, c.RetentionDays,
    };

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"^[A-Za-z0-9.\-]+:\d{1,5}(/[A-Za-z0-9_.\-$]{1,63})?$")]
    private static partial Regex HostPortPattern();

    [GeneratedRegex(@"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")]
    private static partial Regex HeaderNamePattern();
}
