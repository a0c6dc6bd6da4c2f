using System.Security.Cryptography.X509Certificates;
using Hoop.Data.Entities;

namespace Hoop.Admin.Console;

/// <summary>
/// The commands a connection's page shows an agent's operator: curl and an SDK base URL for HTTP (and a kubeconfig
/// when the backend looks like a Kubernetes API server), psql and connection strings for Postgres. Each names a host
/// the certificate in use covers, so it verifies TLS as it is: by name (<c>https://&lt;connection&gt;.&lt;host&gt;</c>)
/// only where the certificate covers that name, by path otherwise.
/// </summary>
internal static class ConnectionSnippets
{
    public static IEnumerable<(string Title, string Text)> For(string connection, ConnectionKind kind, string address, X509Certificate2? certificate,
        IReadOnlyList<string> hostNames, int proxyPort, int postgresPort)
    {
        var host = hostNames.FirstOrDefault(h => Covers(certificate, h)) ?? hostNames[0];
        if (kind == ConnectionKind.Postgres)
        {
            yield return ("psql", $"PGPASSWORD=\"$HOOP_TOKEN\" psql \"host={host} port={postgresPort} dbname={connection} user=agent sslmode=verify-full sslrootcert=certificate.pem\"");
            yield return ("Connection URI (libpq, psycopg, node pg; the token as the password)",
                $"postgresql://agent@{host}:{postgresPort}/{connection}?sslmode=verify-full&sslrootcert=certificate.pem");
            yield return ("Npgsql connection string",
                $"Host={host};Port={postgresPort};Database={connection};Username=agent;Password=<token>;SSL Mode=VerifyFull;Root Certificate=certificate.pem");
            yield break;
        }

        var byPath = $"https://{host}:{proxyPort}/{connection}";
        var named = hostNames.FirstOrDefault(h => Covers(certificate, $"{connection}.{h}"));
        var baseUrl = named is null ? byPath : $"https://{connection}.{named}:{proxyPort}";
        yield return ("curl", $"curl --cacert certificate.pem -H \"Authorization: Bearer $HOOP_TOKEN\" {byPath}/");
        yield return ("SDK base URL", named is null
            ? $"{byPath}/\nGive the SDK the token as its API key (sent as Authorization: Bearer); Hoop swaps in the stored credential."
            : $"{baseUrl}/   (or {byPath}/ where *.{named} does not resolve)\nGive the SDK the token as its API key (sent as Authorization: Bearer); Hoop swaps in the stored credential.");
        if (!LooksLikeKubernetes(address))
        {
            yield break;
        }

        yield return ("kubectl config", string.Join("\n",
            "apiVersion: v1",
            "kind: Config",
            "clusters:",
            $"- name: {connection}",
            $"  cluster: {{ server: '{baseUrl}', certificate-authority: certificate.pem }}",
            "users:",
            "- name: agent",
            "  user: { token: $HOOP_TOKEN }",
            "contexts:",
            $"- name: {connection}",
            $"  context: {{ cluster: {connection}, user: agent }}",
            $"current-context: {connection}"));
    }

    /// <summary>Kubernetes API servers listen on 6443 or carry the name in their host; a kubeconfig for anything else would only mislead.</summary>
    public static bool LooksLikeKubernetes(string address) =>
        Uri.TryCreate(address, UriKind.Absolute, out var uri)
        && (uri.Port == 6443 || uri.Host.Contains("kube", StringComparison.OrdinalIgnoreCase) || uri.Host.Contains("k8s", StringComparison.OrdinalIgnoreCase));

    private static bool Covers(X509Certificate2? certificate, string name) => certificate?.MatchesHostname(name) ?? true;
}
