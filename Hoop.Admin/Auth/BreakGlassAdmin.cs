using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Hoop.Admin.Hosting;
using Hoop.Admin.Hosting.Settings;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Secrets;
using Hoop.Data.Store;
using Hoop.Proxy.Limits;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Auth;

/// <summary>
/// The local administrator for first setup and for when the identity provider is unreachable.
/// Its password comes from HOOP_ADMIN_PASSWORD, or is generated at first start and printed once.
/// Only a salted hash is stored; every use is audited. Every check of its password goes through <see cref="PasswordLimiter"/>.
/// </summary>
public sealed partial class BreakGlassAdmin(
    IDbContextFactory<HoopDbContext> contexts,
    HoopOptions settings,
    IConfiguration configuration,
    Notices notices,
    AuditLog audit,
    PasswordLimiter limiter,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<BreakGlassAdmin> logger) : IHostedLifecycleService
{
    public const string PasswordVariable = "HOOP_ADMIN_PASSWORD";
    public const string Actor = "break-glass";

    // Checked when the user name is unknown, so a wrong name costs as long as a wrong password.
    private static readonly string DecoyHash = PasswordHash.Decoy();

    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the admin exists (or its password was reset from the variable); checks wait for it.</summary>
    public Task Ready => _ready.Task;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// A password hash costs a third of a second of a core, which the listeners need not wait for: the admin is
    /// created (or reset) once they are open, and every password check waits until that is done. If it fails, Hoop stops.
    /// </summary>
    public Task StartedAsync(CancellationToken cancellationToken)
    {
        _ = Task.Run(async () =>
        {
            try
            {
                await EnsureAdminAsync(lifetime.ApplicationStopping);
                _ready.TrySetResult();
            }
            catch (Exception e)
            {
                _ready.TrySetException(e);
                if (e is not OperationCanceledException)
                {
                    LogCannotCreate(e);
                    lifetime.StopApplication();
                }
            }
        }, CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Creates the admin at first start; a set HOOP_ADMIN_PASSWORD replaces the stored password (recovery).</summary>
    private async Task EnsureAdminAsync(CancellationToken cancellationToken)
    {
        var fromEnvironment = configuration[PasswordVariable];
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var admin = await db.LocalAdmins.OrderBy(a => a.Id).FirstOrDefaultAsync(cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;

        if (admin is null)
        {
            var password = string.IsNullOrEmpty(fromEnvironment) ? Generate() : fromEnvironment;
            db.LocalAdmins.Add(new LocalAdmin
            {
                UserName = settings.AdminUser,
                PasswordHash = PasswordHash.Create(password),
                CreatedAt = now,
                PasswordChangedAt = now,
            });
            db.AuditEvents.Add(audit.Create(AuditLog.System, "break-glass.created", settings.AdminUser, AuditOutcome.Success,
                new { source = string.IsNullOrEmpty(fromEnvironment) ? "generated" : PasswordVariable }));
            await db.SaveChangesAsync(cancellationToken);

            if (string.IsNullOrEmpty(fromEnvironment))
            {
                // Standard output only: the log goes to the store, and a password must not.
                await notices.Writer.WriteLineAsync(
                    $"""

                    Hoop break-glass admin created. Sign in to the console at {settings.ConsoleUri} with
                        user name: {settings.AdminUser}
                        password:  {password}
                    This password is shown once. Set {PasswordVariable} to choose your own.

                    """);
            }

            LogCreated(settings.AdminUser);
            return;
        }

        if (!string.IsNullOrEmpty(fromEnvironment) && !PasswordHash.Verify(fromEnvironment, admin.PasswordHash))
        {
            admin.PasswordHash = PasswordHash.Create(fromEnvironment);
            admin.PasswordChangedAt = now;
            db.AuditEvents.Add(audit.Create(AuditLog.System, "break-glass.password-reset", admin.UserName, AuditOutcome.Success,
                new { source = PasswordVariable }));
            await db.SaveChangesAsync(cancellationToken);
            LogPasswordReset(admin.UserName);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Checks a sign-in from <paramref name="client"/>; on success records the time. Accepted and refused checks are
    /// audited here, throttled ones by the limiter (once a minute per source, with their count).
    /// </summary>
    public async Task<PasswordVerdict> VerifyAsync(string userName, string password, IPAddress? client, CancellationToken cancellationToken, string via = "console")
    {
        await _ready.Task.WaitAsync(cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var admin = await db.LocalAdmins.FirstOrDefaultAsync(a => a.UserName == userName, cancellationToken);
        var stored = admin?.PasswordHash ?? DecoyHash;
        var proof = Proof(userName, password);
        var verdict = await limiter.CheckAsync(SourceAddress.Of(client),
            cached: () => admin is not null && IsKnownRight(proof, stored),
            verify: () => PasswordHash.Verify(password, stored) && admin is not null,
            cancellationToken);
        if (verdict.Outcome == PasswordOutcome.Throttled)
        {
            return verdict;
        }

        var ok = verdict.Accepted;
        if (ok)
        {
            RememberRight(proof, stored);
            admin!.LastLoginAt = time.GetUtcNow().UtcDateTime;
        }

        var clientAddress = client?.ToString();
        db.AuditEvents.Add(audit.Create(Actor, via == "console" ? "console.login" : "api.break-glass", userName, ok ? AuditOutcome.Success : AuditOutcome.Denied,
            new { method = "break-glass", clientAddress }));
        await db.SaveChangesAsync(cancellationToken);
        if (!ok)
        {
            LogSignInRefused(clientAddress);
        }

        return verdict;
    }

    // A password found right is remembered for a few minutes by a keyed hash (the key never leaves this process), so
    // a script calling the API with Basic pays the slow hash once, not per request. A new password misses: the
    // remembered entry names the stored hash it was checked against.
    private static readonly TimeSpan RememberFor = TimeSpan.FromMinutes(5);
    private readonly byte[] _proofKey = RandomNumberGenerator.GetBytes(32);
    private readonly ConcurrentDictionary<string, (string StoredHash, DateTimeOffset Until)> _knownRight = new(StringComparer.Ordinal);

    private string Proof(string userName, string password) =>
        Convert.ToBase64String(HMACSHA256.HashData(_proofKey, Encoding.UTF8.GetBytes(userName + "\0" + password)));

    private bool IsKnownRight(string proof, string storedHash) =>
        _knownRight.TryGetValue(proof, out var known) && known.StoredHash == storedHash && known.Until > time.GetUtcNow();

    private void RememberRight(string proof, string storedHash)
    {
        if (_knownRight.Count > 16)
        {
            _knownRight.Clear();
        }

        _knownRight[proof] = (storedHash, time.GetUtcNow() + RememberFor);
    }

    /// <summary>
    /// Replaces the password when the current one is given. Every browser signed in as the break-glass admin is
    /// signed out at its next request (the cookie carries <see cref="PasswordStampAsync"/>, which changes). The current
    /// password's check goes through the limiter like a sign-in, counted against the signed-in actor.
    /// </summary>
    public async Task<Management.ChangeResult<DateTime>> ChangePasswordAsync(string? current, string? next, string actor, CancellationToken cancellationToken)
    {
        await _ready.Task.WaitAsync(cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var admin = await db.LocalAdmins.OrderBy(a => a.Id).FirstAsync(cancellationToken);
        var errors = new Management.FieldErrors();
        var currentCheck = string.IsNullOrEmpty(current)
            ? new PasswordVerdict(PasswordOutcome.Refused)
            : await limiter.CheckAsync($"signed-in:{actor}", cached: () => false, verify: () => PasswordHash.Verify(current, admin.PasswordHash), cancellationToken);
        if (!string.IsNullOrEmpty(configuration[PasswordVariable]))
        {
            errors.Add("newPassword", $"{PasswordVariable} is set, and would put its password back at the next start. Unset it first, or change it there.");
        }

        if (currentCheck.Outcome == PasswordOutcome.Throttled)
        {
            errors.Add("currentPassword", $"Too many wrong passwords were given; try again in {currentCheck.RetryAfterSeconds} s.");
        }
        else if (!currentCheck.Accepted)
        {
            errors.Add("currentPassword", "That is not the break-glass admin's current password.");
        }

        if (next is null || next.Length < MinimumPasswordLength)
        {
            errors.Add("newPassword", $"Use at least {MinimumPasswordLength} characters; a passphrase of several words is best.");
        }

        if (errors.Any)
        {
            db.AuditEvents.Add(audit.Create(actor, "break-glass.password-change", admin.UserName, AuditOutcome.Denied, new { fields = errors.ToDictionary().Keys }));
            await db.SaveChangesAsync(cancellationToken);
            return Management.ChangeResult<DateTime>.Invalid(errors.ToDictionary());
        }

        admin.PasswordHash = PasswordHash.Create(next!);
        admin.PasswordChangedAt = time.GetUtcNow().UtcDateTime;
        db.AuditEvents.Add(audit.Create(actor, "break-glass.password-change", admin.UserName, AuditOutcome.Success));
        await db.SaveChangesAsync(cancellationToken);
        return new(Management.ChangeStatus.Ok, admin.PasswordChangedAt);
    }

    public const int MinimumPasswordLength = 12;

    /// <summary>Changes whenever the password does; a break-glass cookie with another stamp is no longer valid.</summary>
    public async Task<string> PasswordStampAsync(CancellationToken cancellationToken)
    {
        await _ready.Task.WaitAsync(cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var changed = await db.LocalAdmins.OrderBy(a => a.Id).Select(a => a.PasswordChangedAt).FirstOrDefaultAsync(cancellationToken);
        return changed.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string Generate() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(18)).Replace('+', '-').Replace('/', '_');

    [LoggerMessage(3001, LogLevel.Information, "Break-glass admin '{UserName}' created")]
    private partial void LogCreated(string userName);

    [LoggerMessage(3002, LogLevel.Warning, "Break-glass admin '{UserName}' password replaced from HOOP_ADMIN_PASSWORD")]
    private partial void LogPasswordReset(string userName);

    [LoggerMessage(3003, LogLevel.Warning, "Break-glass sign-in refused from {ClientAddress}")]
    private partial void LogSignInRefused(string? clientAddress);

    [LoggerMessage(3004, LogLevel.Critical, "The break-glass admin could not be created or reset; Hoop stops")]
    private partial void LogCannotCreate(Exception exception);
}
