using System.Security.Claims;
using Hoop.Admin.Management;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;
using MudBlazor;

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
    protected ISnackbar Snackbar { get; set; } = default!;

    [Inject]
    protected IDialogService Dialogs { get; set; } = default!;

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
            Notify(Severity.Error, "Not allowed", $"This needs the {role.ToLowerInvariant()} role.");
            return null;
        }

        return user.Identity?.Name ?? user.FindFirstValue(ClaimTypes.NameIdentifier) ?? "unknown";
    }

    /// <summary>The signed-in person's name for the audit log, if they hold any of <paramref name="roles"/> right now.</summary>
    protected async Task<string?> ActorInAnyRoleAsync(params string[] roles)
    {
        var user = (await AuthenticationState).User;
        return await ActorInRoleAsync(roles.FirstOrDefault(user.IsInRole) ?? roles[^1]);
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
                Notify(Severity.Success, $"{what} {done}.");
                return true;
            case ChangeStatus.VersionMismatch:
                Notify(Severity.Warning, "Changed by someone else",
                    $"{what} was changed since you opened it. Nothing was saved: reopen it and apply your change again.");
                return false;
            case ChangeStatus.NotFound:
                Notify(Severity.Warning, "Gone", $"{what} no longer exists.");
                return false;
            case ChangeStatus.Forbidden or ChangeStatus.Conflict when result.Errors?.Values.FirstOrDefault()?.FirstOrDefault() is { } reason:
                Notify(Severity.Error, result.Status == ChangeStatus.Forbidden ? "Not allowed" : "Not saved", reason);
                return false;
            default:
                Notify(Severity.Error, "Not saved", "Correct the fields marked in red; nothing was saved.");
                return false;
        }
    }

    /// <summary>A notification in the corner, away from the content it reports on; gone once the person moves on.</summary>
    protected void Notify(Severity severity, string title, string? detail = null) =>
        Snackbar.Add(detail is null ? title : $"{title}: {detail}", severity);

    /// <summary>Asks before something that cannot be undone; true when the person confirmed.</summary>
    protected async Task<bool> ConfirmAsync(string title, string message, string yes, string no = "Cancel") =>
        await Dialogs.ShowMessageBoxAsync(title, message, yesText: yes, cancelText: no) == true;

    /// <summary>A field's error text for MudBlazor's inputs (null when the last save had none).</summary>
    protected string? ErrorOf(string field) => Errors.TryGetValue(field, out var messages) ? string.Join(" ", messages) : null;
}
