using Hoop.Proxy.Identity;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;

namespace Hoop.Admin.Auth;

/// <summary>
/// The OpenIdConnect handler's options for one provider's scheme (<see cref="OidcSchemes"/>), built from the provider
/// as registered: its discovery and keys, code redemption and userinfo all go through <see cref="IssuerHttp"/>, so a
/// provider behind a private CA is trusted through its own CA bundle.
/// </summary>
internal sealed class OidcSchemeOptions(OidcSchemes schemes, IssuerHttp http, IDataProtectionProvider dataProtection, TimeProvider time)
    : IConfigureNamedOptions<OpenIdConnectOptions>
{
    /// <summary>
    /// One protection for every provider's state: all schemes share the callback path, each reads the state, and the
    /// one the sign-in started with (<see cref="OidcSignIn.IssuerKey"/>) finishes it.
    /// </summary>
    public ISecureDataFormat<AuthenticationProperties> State { get; } =
        new PropertiesDataFormat(dataProtection.CreateProtector("Hoop.Admin.Auth.OidcSignIn.State", "v1"));

    public void Configure(string? name, OpenIdConnectOptions options)
    {
        if (name is null || schemes.IssuerOf(name) is not { } issuer)
        {
            return;
        }

        options.Authority = issuer.Authority;
        options.MetadataAddress = issuer.DiscoveryUrl;
        options.RequireHttpsMetadata = issuer.RequireHttpsMetadata;
        options.ClientId = issuer.ClientId;
        options.ClientSecret = issuer.ClientSecret;
        options.Backchannel = http.ClientFor(issuer);
        options.ConfigurationManager = new ConfigurationManager<OpenIdConnectConfiguration>(
            issuer.DiscoveryUrl, new OpenIdConnectConfigurationRetriever(), http.Retriever(issuer));

        options.CallbackPath = OidcSignIn.CallbackPath;
        options.SignInScheme = CookieAuthenticationDefaults.AuthenticationScheme;
        options.SignOutScheme = CookieAuthenticationDefaults.AuthenticationScheme;
        options.ResponseType = OpenIdConnectResponseType.Code;
        options.ResponseMode = OpenIdConnectResponseMode.Query;
        options.UsePkce = true;
        // The authorization request goes in the redirect, as it did before pushed requests existed; PAR adds a round
        // trip and nothing Hoop needs (the request carries no secret).
        options.PushedAuthorizationBehavior = PushedAuthorizationBehavior.Disable;
        options.Scope.Add("email");
        options.StateDataFormat = State;
        // The callback is for whichever scheme can read its state; the rest pass it on (OidcSignIn answers one nobody can read).
        options.SkipUnrecognizedRequests = true;
        // Sign-out is Hoop's own antiforgery-checked form; a provider's front-channel GET must not sign people out.
        options.RemoteSignOutPath = PathString.Empty;
        options.SignedOutCallbackPath = PathString.Empty;

        // The cookie holds Hoop's few claims (ConsoleSignInEvents, which reads userinfo itself), the ID token for
        // sign-out, and nothing else.
        options.GetClaimsFromUserInfoEndpoint = false;
        options.ClaimActions.Clear();
        options.MapInboundClaims = false;
        options.SaveTokens = false;
        options.TokenValidationParameters = TokenValidator.Parameters(issuer.Authority, issuer.ClientId!, time);
        options.DisableTelemetry = true;
        options.TimeProvider = time;
        options.EventsType = typeof(ConsoleSignInEvents);
    }

    public void Configure(OpenIdConnectOptions options) => Configure(Options.DefaultName, options);
}
