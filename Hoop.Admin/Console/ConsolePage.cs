using System.Security.Claims;
using Hoop.Admin.Management;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;
using Radzen;

namespace Hoop.Admin.Console;

/// <summary>
/// What every console page that changes something shares: who the actor is, a role check at the moment of the
/// change (not only when the page opened), and the field errors of the last attempt, shown beside their fields.
/// </summary>
public abstract class ConsolePage : ComponentBase
{
    [CascadingParameter]
    private Task<AuthenticationState> AuthenticationState { get; set; } = default!;

    [Inject]
    protected NotificationService Notifications { get; set; } = default!;

    [Inject]
    protected DialogService Dialogs { get; set; } = default!;

    /// <summary>Field name (as the admin API names it) to its messages, from the last save.</summary>
    protected IReadOnlyDictionary<string, string[]> Errors { get; set; } = new Dictionary<string, string[]>();

    /// <summary>The signed-in person as of now (roles re-read), for services that check more than a role.</summary>
    protected async Task<ClaimsPrincipal> UserAsync() => (await AuthenticationState).User;

    /// <summary>Whether the signed-in person holds <paramref name="role"/> (to show a form as editable; the change checks again).</summary>
    protected async Task<bool> InRoleAsync(string role) => (await AuthenticationState).User.IsInRole(role);

    /// <summary>The signed-in person's name for the audit log, if they hold <paramref name="role"/> right now.</summary>
    protected async Task<string?> ActorInRoleAsync(string role)
    {
        var user = (await AuthenticationState).User;
        if (!user.IsInRole(role))
        {
            Notifications.Notify(NotificationSeverity.Error, "Not allowed", $"This needs the {role.ToLowerInvariant()} role.");
            return null;
        }

        return user.Identity?.Name ?? user.FindFirstValue(ClaimTypes.NameIdentifier) ?? "unknown";
    }

    /// <summary>
    /// Turns a service's answer into field errors or a notification; true when the change was saved.
    /// <paramref name="done"/> says what happened to <paramref name="what"/> ("saved", "deleted", "revoked").
    /// </summary>
    protected bool Saved<T>(ChangeResult<T> result, string what, string done = "saved")
    {
        Errors = result.Errors ?? new Dictionary<string, string[]>();
        switch (result.Status)
        {
            case ChangeStatus.Ok or ChangeStatus.Created:
                Notifications.Notify(NotificationSeverity.Success, $"{what} {done}");
                return true;
            case ChangeStatus.VersionMismatch:
                Notifications.Notify(NotificationSeverity.Warning, "Changed by someone else",
                    $"{what} was changed since you opened it. Nothing was saved: reopen it and apply your change again.");
                return false;
            case ChangeStatus.NotFound:
                Notifications.Notify(NotificationSeverity.Warning, "Gone", $"{what} no longer exists.");
                return false;
            case ChangeStatus.Forbidden or ChangeStatus.Conflict when result.Errors?.Values.FirstOrDefault()?.FirstOrDefault() is { } reason:
                Notifications.Notify(NotificationSeverity.Error, result.Status == ChangeStatus.Forbidden ? "Not allowed" : "Not saved", reason);
                return false;
            default:
                Notifications.Notify(NotificationSeverity.Error, "Not saved", "Correct the fields marked in red; nothing was saved.");
                return false;
        }
    }
}
