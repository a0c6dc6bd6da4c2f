using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Hoop.Tests.Support;

/// <summary>
/// npm oidc-provider (OpenID Certified) as a real identity provider, run by Node from tools/oidc
/// (installed by ./test.sh), on a free loopback port.
/// </summary>
public sealed class OidcProvider : IAsyncDisposable
{
    public const string Audience = "urn:hoop:proxy";

    private readonly Process _process;

    private OidcProvider(Process process, int port)
    {
        _process = process;
        Authority = $"http://127.0.0.1:{port}";
    }

    public string Authority { get; }

    public sealed record Client(string Id, string Secret, string[] Groups, string[]? RedirectUris = null, string[]? PostLogoutRedirectUris = null);

    public static Task<OidcProvider> StartAsync(params Client[] clients) => StartAsync(new Dictionary<string, string[]>(), clients);

    /// <param name="accounts">People who sign in at the provider's login form, with their groups.</param>
    /// <param name="clients">Agents (client credentials) and the console (code flow, with redirect URIs).</param>
    public static async Task<OidcProvider> StartAsync(IReadOnlyDictionary<string, string[]> accounts, params Client[] clients)
    {
        var script = Repository.Tool("oidc", "server.mjs");
        Repository.Tool("oidc", "node_modules", "oidc-provider");
        var port = Repository.FreePort();
        var json = JsonSerializer.Serialize(clients.Select(c => new { client_id = c.Id, client_secret = c.Secret, groups = c.Groups, redirect_uris = c.RedirectUris, post_logout_redirect_uris = c.PostLogoutRedirectUris }));
        var start = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(script)! };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        start.ArgumentList.Add(json);
        start.ArgumentList.Add(JsonSerializer.Serialize(accounts));
        var process = Process.Start(start)!;
        var log = new StringBuilder();
        process.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.BeginErrorReadLine();

        var provider = new OidcProvider(process, port);
        using var http = new HttpClient();
        for (var i = 0; i < 100; i++)
        {
            try
            {
                if ((await http.GetAsync(provider.Authority + "/.well-known/openid-configuration")).IsSuccessStatusCode)
                {
                    return provider;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(100);
        }

        await provider.DisposeAsync();
        throw new InvalidOperationException("oidc-provider did not start: " + log);
    }

    /// <summary>An access token by client credentials, as an agent gets one.</summary>
    public async Task<string> ClientCredentialsTokenAsync(Client client)
    {
        using var http = new HttpClient();
        var request = new HttpRequestMessage(HttpMethod.Post, Authority + "/token")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "client_credentials", ["scope"] = "hoop" }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{client.Id}:{client.Secret}")));
        var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString()!;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
