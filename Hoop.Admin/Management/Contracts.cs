using Hoop.Data.Entities;

namespace Hoop.Admin.Management;

/// <summary>A connection as an admin writes it. The credential's secret is write-only.</summary>
public sealed record ConnectionInput(
    string? Name,
    ConnectionKind? Kind,
    string? Address,
    TlsVerification? TlsVerification,
    string? CaBundlePem,
    string? PinnedCertificateSha256,
    CredentialInput? Credential,
    bool? Enabled,
    int? RetentionDays);

/// <summary>Null <see cref="Secret"/> on an update keeps the stored secret.</summary>
public sealed record CredentialInput(CredentialKind Kind, string? Name, string? Secret);

/// <summary>A connection as anyone reads it: the secret is never there, only whether it is set and when it changed.</summary>
public sealed record ConnectionView(
    Guid Id,
    string Name,
    ConnectionKind Kind,
    string Address,
    TlsVerification TlsVerification,
    bool TlsWarning,
    string? PinnedCertificateSha256,
    bool HasCaBundle,
    CredentialView Credential,
    bool Enabled,
    int? RetentionDays,
    IReadOnlyList<string> Groups,
    string Version);

public sealed record CredentialView(CredentialKind Kind, string? Name, bool Set, DateTime? ChangedAt);

/// <summary><see cref="Issuer"/>: the issuer URL whose tokens may claim the group; null or empty for any.</summary>
public sealed record GroupInput(string? Name, IReadOnlyList<string>? Roles, IReadOnlyList<string>? Connections, string? Issuer = null);

public sealed record GroupView(Guid Id, string Name, IReadOnlyList<string> Roles, IReadOnlyList<string> Connections, string Version, string? Issuer = null);

public sealed record ApiKeyInput(string? Name, IReadOnlyList<string>? Groups, DateTime? ExpiresAt);

public sealed record ApiKeyView(Guid Id, string Name, string Prefix, IReadOnlyList<string> Groups, DateTime CreatedAt, string CreatedBy,
    DateTime? ExpiresAt, DateTime? RevokedAt, DateTime? LastUsedAt);

/// <summary>Returned once, at creation: the only time the key itself is shown.</summary>
public sealed record ApiKeyCreated(string Key, ApiKeyView ApiKey);

/// <summary>
/// An OIDC issuer as an admin writes it. Null <see cref="ClientSecret"/> or <see cref="CaBundlePem"/> on an update keeps
/// the stored one; "" removes it. <see cref="CaBundlePem"/>: PEM roots for a provider behind a private CA.
/// </summary>
public sealed record IssuerInput(
    string? DisplayName,
    string? Authority,
    string? Audience,
    string? GroupsClaim,
    string? ClientId,
    string? ClientSecret,
    bool? RequireHttpsMetadata,
    string? CaBundlePem = null);

/// <summary>An issuer as anyone reads it: the client secret only as "set, last changed".</summary>
public sealed record IssuerView(
    Guid? Id,
    string DisplayName,
    string Authority,
    string Audience,
    string GroupsClaim,
    string? ClientId,
    bool ClientSecretSet,
    DateTime? ClientSecretChangedAt,
    bool RequireHttpsMetadata,
    bool FromConfiguration,
    string? Version,
    string? CaBundlePem = null);

/// <summary>How Hoop is doing right now (<see cref="OverviewService"/>).</summary>
public sealed record Overview(int LiveSessions, IReadOnlyList<LiveSessionView> Live, int PendingReviews, IReadOnlyList<DenialView> Denials,
    CertificateView? Certificate, DateTime? BreakGlassLastLogin, int BreakGlassLogins, RecordingHealth Recording, LoggingHealth Logging,
    ActivityView Activity);

/// <summary>
/// The last 24 hours of recorded traffic: per hour (UTC, oldest first; each hour's start in <see cref="Hours"/>) the
/// requests (HTTP exchanges and SQL queries recorded), those a guardrail denied or held, and those with values masked;
/// and the same totals per connection, busiest first.
/// </summary>
public sealed record ActivityView(IReadOnlyList<DateTime> Hours, IReadOnlyList<int> Requests, IReadOnlyList<int> Denied, IReadOnlyList<int> Held,
    IReadOnlyList<int> Masked, IReadOnlyList<ConnectionActivity> Connections);

public sealed record ConnectionActivity(string Connection, int Requests, int Denied, int Held, int Masked);

public sealed record LiveSessionView(Guid Id, string Connection, string Agent, DateTime StartedAt);

/// <summary>A refusal of the last day, from the audit log.</summary>
public sealed record DenialView(DateTime At, string Actor, string Action, string? Target);

/// <summary>Whether the recorder writes (it refuses access it cannot record in Required mode), and how many records it lost.</summary>
public sealed record RecordingHealth(bool Healthy, string Mode, long Lost);

public sealed record LoggingHealth(long Written, long Dropped);

public sealed record LogEventView(long Id, DateTime Timestamp, string Level, string? Category, string Message, string? Exception);
