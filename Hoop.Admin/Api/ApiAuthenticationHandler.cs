using System.Net.Http.Headers;
using System.Security.Claims;
using System.Text;
using System.Text.Encodings.Web;
using Hoop.Admin.Auth;
using Hoop.Data.Entities;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Model;
using Hoop.Proxy.Policy;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Hoop.Admin.Api;

/// <summary>
/// Who calls the admin API: an OIDC access token or a Hoop API key (roles from the caller's registered groups,
/// read at every request, so a removed group counts at once), or the break-glass admin with HTTP Basic.
/// Tokens are checked by the proxy's <see cref="TokenValidator"/>, not by JwtBearer: a JwtBearer scheme has one
/// authority and one configuration manager, while tokens here come from any issuer of the current policy (added and
/// removed in the console, each trusted through its own CA bundle), and the same header may carry an API key. Sharing
/// the validator with the proxy and Postgres ports means a token is accepted, refused and explained alike on every port.
/// </summary>
public sealed class ApiAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    TokenValidator tokens,
    PolicyStore policy,
    BreakGlassAdmin breakGlass,
    TimeProvider time) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "HoopApi";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!AuthenticationHeaderValue.TryParse(Request.Headers.Authorization, out var header) || string.IsNullOrEmpty(header.Parameter))
        {
            return AuthenticateResult.NoResult();
        }

        if (header.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
        {
            return await BreakGlassAsync(header.Parameter);
        }

        if (!header.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticateResult.Fail("Use 'Authorization: Bearer <token or API key>' (or Basic for the break-glass admin).");
        }

        var snapshot = policy.Current;
        Caller? caller;
        if (ApiKeys.Looks(header.Parameter))
        {
            caller = snapshot.FindApiKey(ApiKeys.Hash(header.Parameter), time.GetUtcNow().UtcDateTime)?.ToCaller();
            if (caller is null)
            {
                return AuthenticateResult.Fail("The API key is unknown, revoked or expired.");
            }
        }
        else
        {
            (caller, var failure) = await tokens.ValidateAsync(header.Parameter, Context.RequestAborted);
            if (caller is null)
            {
                return AuthenticateResult.Fail(failure!.Reason);
            }
        }

        // The groups go along, for decisions only a rule's reviewer group may make.
        var groups = snapshot.AcceptedGroups(caller.Groups, caller.Issuer);
        return Success(caller.Subject, caller.DisplayName, snapshot.RolesOf(caller.Groups, caller.Issuer), caller.Kind == CallerKind.ApiKey ? "api-key" : "token", groups,
            caller.Key);
    }

    private async Task<AuthenticateResult> BreakGlassAsync(string parameter)
    {
        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(parameter));
        }
        catch (FormatException)
        {
            return AuthenticateResult.Fail("The Basic credential is not base64.");
        }

        var colon = decoded.IndexOf(':', StringComparison.Ordinal);
        var verdict = colon < 1
            ? new PasswordVerdict(PasswordOutcome.Refused)
            : await breakGlass.VerifyAsync(decoded[..colon], decoded[(colon + 1)..], Context.Connection.RemoteIpAddress, Context.RequestAborted, "api");
        if (verdict.Outcome == PasswordOutcome.Throttled)
        {
            // The challenge answers 429 instead of 401.
            Context.Features.Set(new Throttled(verdict));
            return AuthenticateResult.Fail($"Too many password checks from your address; try again in {verdict.RetryAfterSeconds} s.");
        }

        if (!verdict.Accepted)
        {
            return AuthenticateResult.Fail("The break-glass user name or password is not right.");
        }

        return Success(BreakGlassAdmin.Actor, decoded[..colon], Roles.Admin, BreakGlassAdmin.Actor, [], BreakGlassAdmin.Actor);
    }

    private static AuthenticateResult Success(string subject, string name, Roles roles, string method, IEnumerable<string> groups, string callerKey)
    {
        var claims = new List<Claim>
        {
            new(ClaimTypes.NameIdentifier, subject), new(ClaimTypes.Name, name), new(AuthSetup.AuthMethodClaim, method), new(HoopClaims.CallerKey, callerKey),
        };
        claims.AddRange(groups.Select(g => new Claim(HoopClaims.Group, g)));
        claims.AddRange(Enum.GetValues<Roles>().Where(r => r != Roles.None && roles.HasFlag(r)).Select(r => new Claim(ClaimTypes.Role, r.ToString())));
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName)), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        if (Context.Features.Get<Throttled>() is { } throttled)
        {
            Response.Headers.RetryAfter = throttled.Verdict.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await TypedResults.Problem(result.Failure?.Message, statusCode: StatusCodes.Status429TooManyRequests, title: "Too many password checks")
                .ExecuteAsync(Context);
            return;
        }

        Response.Headers.WWWAuthenticate = "Bearer realm=\"hoop\", Basic realm=\"hoop\"";
        await TypedResults.Problem(result.Failure?.Message ?? "Authenticate with 'Authorization: Bearer <OIDC access token or Hoop API key>'.",
            statusCode: StatusCodes.Status401Unauthorized, title: "Not authenticated").ExecuteAsync(Context);
    }

    /// <summary>Marks a request whose password was not checked, for the challenge to answer 429.</summary>
    private sealed record Throttled(PasswordVerdict Verdict);

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        TypedResults.Problem("This needs the admin role; none of your groups carries it.",
            statusCode: StatusCodes.Status403Forbidden, title: "Not allowed").ExecuteAsync(Context);
}
