using System.Net.Http.Headers;
using System.Text;
using Hoop.Data.Entities;
using Hoop.Proxy.Model;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

namespace Hoop.Proxy.Http;

/// <summary>
/// What YARP's forwarder does to one exchange on its way to the backend and back, in that order. To the backend:
/// the route's path, the agent's credentials and forwarding claims off, Hoop's forwarding headers and the
/// connection's stored credential on, and nothing asked for that could hide the secret or defeat masking
/// (compression, ranges). Back: the stored secret scrubbed from the body first (<see cref="SecretScrub"/>), then the
/// recording's copy taken (<see cref="ResponseCapture"/>), then the body masked (<see cref="HttpMasking"/>); the
/// headers and trailers scrubbed, and the console's session cookie kept out of a backend's reach.
/// </summary>
internal sealed class BackendTransformer(HttpExchange exchange) : HttpTransformer
{
    /// <summary>Headers that authenticate the agent to Hoop: they never reach a backend, and recordings show them as removed.</summary>
    internal static readonly string[] AgentCredentials = ["Authorization", "Proxy-Authorization", "Cookie", IdentityOptions.ApiKeyHeader];

    /// <summary>Client-supplied forwarding claims, replaced with what Hoop saw.</summary>
    private static readonly string[] Forwarding = ["Forwarded", "X-Real-IP", "X-Client-IP", "True-Client-IP", "X-Original-Forwarded-For"];

    private const string ConsoleCookie = IdentityOptions.ConsoleCookie + "=";

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix,
        CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        proxyRequest.RequestUri = exchange.Route.BackendUri(httpContext, destinationPrefix);
        // The backend's own host name, from the URL: never the one the agent used for Hoop.
        proxyRequest.Headers.Host = null;
        var headers = proxyRequest.Headers;
        StripAgentHeaders(httpContext.Request, headers);
        SetForwarding(httpContext, headers);
        Inject(exchange.Connection, headers);
        if (!exchange.Connection.Secrets.IsEmpty)
        {
            // A compressed answer would hide a reflected credential from the search: ask for none.
            headers.Remove("Accept-Encoding");
        }

        exchange.Masking.PrepareBackendRequest(proxyRequest);
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        if (proxyResponse is not null)
        {
            await SecretScrub.BodyAsync(exchange, proxyResponse, cancellationToken);
            exchange.Response?.Attach(proxyResponse);
            await exchange.Masking.MaskResponseAsync(proxyResponse, cancellationToken);
        }

        var copyBody = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
        var headers = httpContext.Response.Headers;
        // A backend on the console's host name must not set or clear the console's session cookie.
        if (headers.SetCookie.Any(c => c?.StartsWith(ConsoleCookie, StringComparison.Ordinal) == true))
        {
            headers.SetCookie = headers.SetCookie.Where(c => c?.StartsWith(ConsoleCookie, StringComparison.Ordinal) != true).ToArray();
        }

        SecretScrub.Headers(exchange, headers, "response header");
        return copyBody;
    }

    public override async ValueTask TransformResponseTrailersAsync(HttpContext httpContext, HttpResponseMessage proxyResponse, CancellationToken cancellationToken)
    {
        await base.TransformResponseTrailersAsync(httpContext, proxyResponse, cancellationToken);
        if (httpContext.Features.Get<IHttpResponseTrailersFeature>()?.Trailers is { } trailers)
        {
            SecretScrub.Headers(exchange, trailers, "response trailer");
        }
    }

    private static void StripAgentHeaders(HttpRequest request, HttpRequestHeaders headers)
    {
        foreach (var name in AgentCredentials)
        {
            headers.Remove(name);
        }

        foreach (var name in Forwarding)
        {
            headers.Remove(name);
        }

        // Compressed WebSocket messages (permessage-deflate) could not be searched for the stored secret: offer none.
        headers.Remove("Sec-WebSocket-Extensions");

        foreach (var name in headers.Select(h => h.Key).Where(k => k.StartsWith("X-Forwarded-", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            headers.Remove(name);
        }

        // Names listed in Connection are hop-by-hop by the sender's own declaration.
        foreach (var value in request.Headers.Connection)
        {
            foreach (var name in (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                headers.Remove(name);
            }
        }
    }

    private static void SetForwarding(HttpContext context, HttpRequestHeaders headers)
    {
        if (context.Connection.RemoteIpAddress is { } address)
        {
            headers.TryAddWithoutValidation("X-Forwarded-For", address.ToString());
        }

        headers.TryAddWithoutValidation("X-Forwarded-Proto", context.Request.Scheme);
        headers.TryAddWithoutValidation("X-Forwarded-Host", context.Request.Host.Value);
    }

    private static void Inject(ConnectionPolicy connection, HttpRequestHeaders headers)
    {
        var secret = connection.CredentialSecret;
        if (string.IsNullOrEmpty(secret))
        {
            return;
        }

        switch (connection.CredentialKind)
        {
            case CredentialKind.Bearer:
                headers.Authorization = new AuthenticationHeaderValue("Bearer", secret);
                break;
            case CredentialKind.Basic:
                headers.Authorization = new AuthenticationHeaderValue("Basic",
                    Convert.ToBase64String(Encoding.UTF8.GetBytes($"{connection.CredentialName}:{secret}")));
                break;
            case CredentialKind.Header when !string.IsNullOrEmpty(connection.CredentialName):
                headers.Remove(connection.CredentialName);
                headers.TryAddWithoutValidation(connection.CredentialName, secret);
                break;
        }
    }
}
