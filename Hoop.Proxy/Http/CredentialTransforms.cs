using Hoop.Proxy.Model;
using System.Net.Http.Headers;
using System.Text;
using Hoop.Data.Entities;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Hoop.Proxy.Http;

/// <summary>
/// Takes the agent's credentials off the request, puts the connection's stored credential on, and sets the
/// forwarding headers itself (spoofed ones are dropped). On the way back, the stored secret is scrubbed from
/// response headers, in case a backend reflects it.
/// </summary>
internal sealed class CredentialTransforms : ITransformProvider
{
    /// <summary>Headers that authenticate the agent to Hoop: they never reach a backend, and recordings show them as removed.</summary>
    internal static readonly string[] AgentCredentials = ["Authorization", "Proxy-Authorization", "Cookie", IdentityOptions.ApiKeyHeader];

    /// <summary>Client-supplied forwarding claims, replaced with what Hoop saw.</summary>
    private static readonly string[] Forwarding = ["Forwarded", "X-Real-IP", "X-Client-IP", "True-Client-IP", "X-Original-Forwarded-For"];

    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        context.AddRequestTransform(transform =>
        {
            var call = transform.HttpContext.Features.GetRequiredFeature<ProxyCall>();
            var headers = transform.ProxyRequest.Headers;
            StripAgentHeaders(transform.HttpContext.Request, headers);
            SetForwarding(transform.HttpContext, headers);
            Inject(call, headers);
            if (!call.Connection.Secrets.IsEmpty)
            {
                // A compressed answer would hide a reflected credential from the search: ask for none.
                headers.Remove("Accept-Encoding");
            }

            transform.ProxyRequest.Options.Set(ProxyCall.Key, call);
            if (call.Response is { } capture)
            {
                transform.ProxyRequest.Options.Set(ResponseCapture.Key, capture);
            }

            if (!call.Masking.Response.IsEmpty)
            {
                transform.ProxyRequest.Options.Set(HttpMasking.Key, call.Masking);
            }

            return ValueTask.CompletedTask;
        });
        context.AddResponseTransform(transform =>
        {
            var headers = transform.HttpContext.Response.Headers;
            // A backend on the console's host name must not set or clear the console's session cookie.
            if (headers.SetCookie.Any(c => c?.StartsWith(ConsoleCookie, StringComparison.Ordinal) == true))
            {
                headers.SetCookie = headers.SetCookie.Where(c => c?.StartsWith(ConsoleCookie, StringComparison.Ordinal) != true).ToArray();
            }

            Scrub(headers, transform.HttpContext.Features.Get<ProxyCall>(), "response header");
            return ValueTask.CompletedTask;
        });
        context.AddResponseTrailersTransform(transform =>
        {
            if (transform.HttpContext.Features.Get<IHttpResponseTrailersFeature>()?.Trailers is { } trailers)
            {
                Scrub(trailers, transform.HttpContext.Features.Get<ProxyCall>(), "response trailer");
            }

            return ValueTask.CompletedTask;
        });
    }

    internal static void StripAgentHeaders(HttpRequest request, HttpRequestHeaders headers)
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

    private static void Inject(ProxyCall call, HttpRequestHeaders headers)
    {
        var connection = call.Connection;
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

    private const string ConsoleCookie = IdentityOptions.ConsoleCookie + "=";

    private static void Scrub(IHeaderDictionary headers, ProxyCall? call, string where)
    {
        var secrets = call?.Connection.Secrets;
        if (secrets is null || secrets.IsEmpty)
        {
            return;
        }

        List<string>? found = null;
        foreach (var (name, values) in headers)
        {
            if (values.Any(v => v is not null && secrets.Contains(v)))
            {
                (found ??= []).Add(name);
            }
        }

        foreach (var name in found ?? [])
        {
            headers[name] = headers[name].Select(v => v is null ? null : secrets.Scrub(v, out _)).ToArray();
            call!.Reflection.Found($"{where} {name}");
        }
    }
}
