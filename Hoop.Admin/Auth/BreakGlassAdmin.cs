using System.Security.Cryptography;
using Hoop.Admin.Hosting;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Secrets;
using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Auth;

/// <summary>
/// The local administrator for first setup and for when the identity provider is unreachable.
/// Its password comes from HOOP_ADMIN_PASSWORD, or is generated at first start and printed once.
/// Only a salted hash is stored; every use is audited.
/// </summary>
public sealed partial class BreakGlassAdmin(
    IDbContextFactory<HoopDbContext> contexts,
    HostSettings settings,
    IConfiguration configuration,
    Notices notices,
    AuditLog audit,
    TimeProvider time,
    ILogger<BreakGlassAdmin> logger) : IHostedService
{
    public const string PasswordVariable = "HOOP_ADMIN_PASSWORD";
    public const string Actor = "break-glass";

    // Checked when the user name is unknown, so a wrong name costs as long as a wrong password.
    private static readonly string DecoyHash = PasswordHash.Create(Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)));

    /// <summary>Creates the admin at first start; a set HOOP_ADMIN_PASSWORD replaces the stored password (recovery).</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
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

                    Hoop break-glass admin created. Sign in to the console at {settings.ConsoleUrl} with
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

    /// <summary>Checks a sign-in; on success records the time. Both outcomes are audited.</summary>
    public async Task<bool> VerifyAsync(string userName, string password, string? clientAddress, CancellationToken cancellationToken, string via = "console")
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var admin = await db.LocalAdmins.FirstOrDefaultAsync(a => a.UserName == userName, cancellationToken);
        var ok = PasswordHash.Verify(password, admin?.PasswordHash ?? DecoyHash) && admin is not null;
        if (ok)
        {
            admin!.LastLoginAt = time.GetUtcNow().UtcDateTime;
        }

        db.AuditEvents.Add(audit.Create(Actor, via == "console" ? "console.login" : "api.break-glass", userName, ok ? AuditOutcome.Success : AuditOutcome.Denied,
            new { method = "break-glass", clientAddress }));
        await db.SaveChangesAsync(cancellationToken);
        if (!ok)
        {
            LogSignInRefused(clientAddress);
        }

        return ok;
    }

    /// <summary>
    /// Replaces the password when the current one is given. Every browser signed in as the break-glass admin is
    /// signed out at its next request (the cookie carries <see cref="PasswordStampAsync"/>, which changes).
    /// </summary>
    public async Task<Management.ChangeResult<DateTime>> ChangePasswordAsync(string? current, string? next, string actor, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var admin = await db.LocalAdmins.OrderBy(a => a.Id).FirstAsync(cancellationToken);
        var errors = new Management.FieldErrors();
        if (!string.IsNullOrEmpty(configuration[PasswordVariable]))
        {
            errors.Add("newPassword", $"{PasswordVariable} is set, and would put its password back at the next start. Unset it first, or change it there.");
        }

        if (string.IsNullOrEmpty(current) || !PasswordHash.Verify(current, admin.PasswordHash))
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
}
