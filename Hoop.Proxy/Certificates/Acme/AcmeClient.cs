using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Hoop.Proxy.Certificates.Acme;

/// <summary>
/// One conversation with an ACME server (RFC 8555): directory, nonces, signed POSTs, and the resources of an
/// account, an order, its authorizations and the certificate. A <c>badNonce</c> answer is retried with the fresh
/// nonce the server sent; everything else that goes wrong becomes an <see cref="AcmeException"/> in plain words.
/// Safe for several authorizations at once: each answer's nonce goes to a pool the next request takes from.
/// </summary>
internal sealed class AcmeClient(HttpClient http, Uri directoryUrl, Jws jws, TimeProvider time)
{
    private const int NonceRetries = 5;

    /// <summary>
    /// Without a Retry-After, the first look comes soon and the next ones twice as late each time: a test CA
    /// answers in milliseconds, a public one in a second or more, and neither is asked more than a few times.
    /// </summary>
    public static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan LongestPoll = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan MaximumPoll = TimeSpan.FromSeconds(30);

    private AcmeDirectory? _directory;
    private readonly ConcurrentBag<string> _nonces = [];

    /// <summary>The account key's thumbprint: the second half of every key authorization.</summary>
    public string Thumbprint => jws.Thumbprint();

    /// <summary>The account URL once known; requests are then signed with it as <c>kid</c>.</summary>
    public string? AccountUrl { get; set; }

    public async Task<AcmeDirectory> DirectoryAsync(CancellationToken cancellationToken)
    {
        if (_directory is not null)
        {
            return _directory;
        }

        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, directoryUrl), cancellationToken);
        var json = await ReadJsonAsync(response, "the directory", cancellationToken);
        var meta = json["meta"] as JsonObject;
        _directory = new AcmeDirectory(
            Url(json, "newNonce"), Url(json, "newAccount"), Url(json, "newOrder"),
            json["renewalInfo"]?.GetValue<string>() is { } ari ? new Uri(ari) : null,
            meta?["termsOfService"]?.GetValue<string>(),
            meta?["externalAccountRequired"]?.GetValue<bool>() == true);
        return _directory;
    }

    /// <summary>Finds or creates the account for the key, agreeing to the terms; EAB when the server requires it.</summary>
    public async Task<string> AccountAsync(string? email, (string KeyId, string MacKey)? eab, CancellationToken cancellationToken)
    {
        var directory = await DirectoryAsync(cancellationToken);
        if (directory.ExternalAccountRequired && eab is null)
        {
            throw new AcmeException("The ACME server requires External Account Binding: set the EAB key id and MAC key it gave you.");
        }

        var payload = new JsonObject { ["termsOfServiceAgreed"] = true };
        if (!string.IsNullOrWhiteSpace(email))
        {
            payload["contact"] = new JsonArray($"mailto:{email}");
        }

        if (eab is { } binding)
        {
            payload["externalAccountBinding"] = jws.ExternalAccountBinding(binding.KeyId, binding.MacKey, directory.NewAccount.ToString());
        }

        using var response = await PostAsync(directory.NewAccount, payload, cancellationToken);
        AccountUrl = response.Headers.Location?.ToString() ?? throw new AcmeException("The ACME server created the account but gave no account URL.");
        return AccountUrl;
    }

    /// <summary>Replaces the account's contact (none when <paramref name="email"/> is empty).</summary>
    public async Task UpdateContactAsync(string? email, CancellationToken cancellationToken)
    {
        var url = new Uri(AccountUrl ?? throw new InvalidOperationException("No account yet."));
        var contact = string.IsNullOrWhiteSpace(email) ? new JsonArray() : new JsonArray($"mailto:{email}");
        using var _ = await PostAsync(url, new JsonObject { ["contact"] = contact }, cancellationToken);
    }

    public async Task<AcmeOrder> NewOrderAsync(IReadOnlyList<string> names, string? replaces, CancellationToken cancellationToken)
    {
        var directory = await DirectoryAsync(cancellationToken);
        var payload = new JsonObject { ["identifiers"] = new JsonArray(names.Select(n => (JsonNode)new JsonObject { ["type"] = "dns", ["value"] = n }).ToArray()) };
        if (replaces is not null)
        {
            payload["replaces"] = replaces;
        }

        using var response = await PostAsync(directory.NewOrder, payload, cancellationToken);
        var url = response.Headers.Location ?? throw new AcmeException("The ACME server created the order but gave no order URL.");
        return Order(url, await ReadJsonAsync(response, "the new order", cancellationToken));
    }

    public async Task<AcmeAuthorization> AuthorizationAsync(Uri url, CancellationToken cancellationToken)
    {
        using var response = await PostAsync(url, null, cancellationToken);
        var json = await ReadJsonAsync(response, "an authorization", cancellationToken);
        var challenges = (json["challenges"] as JsonArray ?? []).OfType<JsonObject>()
            .Select(c => new AcmeChallenge(Text(c, "type"), new Uri(Text(c, "url")), c["token"]?.GetValue<string>() ?? "", Text(c, "status"), Problem(c["error"])))
            .ToList();
        return new AcmeAuthorization(url, json["identifier"]?["value"]?.GetValue<string>() ?? "?", Text(json, "status"), challenges, RetryAfter(response));
    }

    /// <summary>Tells the server the challenge response is in place; returns how long it asks to wait before looking (Retry-After), if it says.</summary>
    public async Task<TimeSpan?> RespondAsync(AcmeChallenge challenge, CancellationToken cancellationToken)
    {
        using var response = await PostAsync(challenge.Url, new JsonObject(), cancellationToken);
        return RetryAfter(response);
    }

    /// <summary>
    /// Polls an authorization until it is no longer pending: when the server says (Retry-After, first from
    /// <paramref name="retryAfter"/>, the challenge's answer), else soon and then less often.
    /// </summary>
    public async Task<AcmeAuthorization> WaitAsync(AcmeAuthorization authorization, TimeSpan? retryAfter, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + timeout;
        for (var attempt = 0; authorization.Status is "pending" or "processing"; attempt++)
        {
            if (time.GetUtcNow() > deadline)
            {
                throw new AcmeException($"The ACME server did not validate '{authorization.Name}' in time.");
            }

            await Task.Delay(PollDelay(attempt == 0 ? retryAfter ?? authorization.RetryAfter : authorization.RetryAfter, attempt), time, cancellationToken);
            authorization = await AuthorizationAsync(authorization.Url, cancellationToken);
        }

        return authorization;
    }

    public async Task<AcmeOrder> OrderAsync(Uri url, CancellationToken cancellationToken)
    {
        using var response = await PostAsync(url, null, cancellationToken);
        return Order(url, await ReadJsonAsync(response, "the order", cancellationToken)) with { RetryAfter = RetryAfter(response) };
    }

    /// <summary>Sends the CSR and polls the order until the certificate is issued (or the order fails).</summary>
    public async Task<AcmeOrder> FinalizeAsync(AcmeOrder order, byte[] csr, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using (var response = await PostAsync(order.Finalize, new JsonObject { ["csr"] = Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(csr) }, cancellationToken))
        {
            order = Order(order.Url, await ReadJsonAsync(response, "the finalized order", cancellationToken)) with { RetryAfter = RetryAfter(response) };
        }

        var deadline = time.GetUtcNow() + timeout;
        for (var attempt = 0; order.Status is "processing" or "ready" or "pending"; attempt++)
        {
            if (time.GetUtcNow() > deadline)
            {
                throw new AcmeException("The ACME server did not issue the certificate in time.");
            }

            await Task.Delay(PollDelay(order.RetryAfter, attempt), time, cancellationToken);
            order = await OrderAsync(order.Url, cancellationToken);
        }

        return order.Status == "valid" && order.Certificate is not null
            ? order
            : throw new AcmeException($"The ACME server did not issue the certificate (order {order.Status}{(order.Error is null ? "" : ": " + order.Error)}).");
    }

    /// <summary>The issued certificate and its chain, PEM.</summary>
    public async Task<string> DownloadAsync(Uri certificateUrl, CancellationToken cancellationToken)
    {
        using var response = await PostAsync(certificateUrl, null, cancellationToken, accept: "application/pem-certificate-chain");
        return await response.Content.ReadAsStringAsync(cancellationToken);
    }

    /// <summary>RFC 9773: the window the server suggests for renewing a certificate, or null if it offers none.</summary>
    public async Task<(DateTimeOffset Start, DateTimeOffset End, TimeSpan? RetryAfter)?> RenewalInfoAsync(string certificateId, CancellationToken cancellationToken)
    {
        var directory = await DirectoryAsync(cancellationToken);
        if (directory.RenewalInfo is null)
        {
            return null;
        }

        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, new Uri(directory.RenewalInfo.ToString().TrimEnd('/') + "/" + certificateId)), cancellationToken);
        var json = await ReadJsonAsync(response, "the renewal information", cancellationToken);
        var window = json["suggestedWindow"];
        return window?["start"]?.GetValue<DateTimeOffset>() is { } start && window["end"]?.GetValue<DateTimeOffset>() is { } end && end >= start
            ? (start, end, RetryAfter(response))
            : throw new AcmeException("The ACME server's renewal information has no usable suggestedWindow.");
    }

    private async Task<HttpResponseMessage> PostAsync(Uri url, JsonNode? payload, CancellationToken cancellationToken, string accept = "application/json")
    {
        for (var attempt = 1; ; attempt++)
        {
            var nonce = _nonces.TryTake(out var pooled) ? pooled : await NewNonceAsync(cancellationToken);
            var request = new HttpRequestMessage(HttpMethod.Post, url)
            {
                Content = new StringContent(jws.Sign(url.ToString(), nonce, AccountUrl, payload), Encoding.UTF8),
            };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/jose+json");
            request.Headers.Accept.ParseAdd(accept);
            var response = await SendAsync(request, cancellationToken, throwOnError: false);
            if (response.IsSuccessStatusCode)
            {
                return response;
            }

            var problem = await ProblemAsync(response, cancellationToken);
            response.Dispose();
            if (problem.Type == "urn:ietf:params:acme:error:badNonce" && attempt < NonceRetries)
            {
                continue; // The error carried a fresh nonce (pooled by SendAsync).
            }

            throw problem;
        }
    }

    private async Task<string> NewNonceAsync(CancellationToken cancellationToken)
    {
        var directory = await DirectoryAsync(cancellationToken);
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Head, directory.NewNonce), cancellationToken, poolNonce: false);
        return NonceOf(response) ?? throw new AcmeException("The ACME server sent no Replay-Nonce.");
    }

    private static string? NonceOf(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Replay-Nonce", out var nonces) ? nonces.FirstOrDefault() : null;

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken, bool throwOnError = true,
        bool poolNonce = true)
    {
        HttpResponseMessage response;
        try
        {
            using (request)
            {
                response = await http.SendAsync(request, cancellationToken);
            }
        }
        catch (Exception e) when (e is HttpRequestException or IOException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new AcmeException($"The ACME server at {directoryUrl.Host} could not be reached ({e.Message}).", e);
        }

        if (poolNonce && NonceOf(response) is { } nonce)
        {
            _nonces.Add(nonce);
        }

        if (!throwOnError || response.IsSuccessStatusCode)
        {
            return response;
        }

        var problem = await ProblemAsync(response, cancellationToken);
        response.Dispose();
        throw problem;
    }

    private async Task<AcmeException> ProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var retryAfter = RetryAfter(response);
        try
        {
            var json = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken)) as JsonObject;
            var type = json?["type"]?.GetValue<string>();
            var detail = json?["detail"]?.GetValue<string>();
            var sub = (json?["subproblems"] as JsonArray)?.OfType<JsonObject>()
                .Select(s => $"{s["identifier"]?["value"]}: {s["detail"]}").ToList();
            var text = $"The ACME server answered {(int)response.StatusCode}{(type is null ? "" : $" ({type.Replace("urn:ietf:params:acme:error:", "", StringComparison.Ordinal)})")}: {detail ?? response.ReasonPhrase}";
            return new AcmeException(sub is { Count: > 0 } ? $"{text} [{string.Join("; ", sub)}]" : text, type, response.StatusCode, retryAfter);
        }
        catch (JsonException)
        {
            return new AcmeException($"The ACME server answered {(int)response.StatusCode} {response.ReasonPhrase} without a problem document.", null, response.StatusCode, retryAfter);
        }
    }

    private static async Task<JsonObject> ReadJsonAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        try
        {
            return JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken)) as JsonObject
                ?? throw new AcmeException($"The ACME server's answer for {what} is not a JSON object.");
        }
        catch (JsonException)
        {
            throw new AcmeException($"The ACME server's answer for {what} is not valid JSON.");
        }
    }

    private static AcmeOrder Order(Uri url, JsonObject json) => new(
        url,
        Text(json, "status"),
        (json["authorizations"] as JsonArray ?? []).Select(a => new Uri(a!.GetValue<string>())).ToList(),
        new Uri(Text(json, "finalize")),
        json["certificate"]?.GetValue<string>() is { } c ? new Uri(c) : null,
        Problem(json["error"]),
        null);

    private static string? Problem(JsonNode? error) => error is null ? null : error["detail"]?.GetValue<string>() ?? error["type"]?.GetValue<string>();

    private static string Text(JsonObject json, string name) =>
        json[name]?.GetValue<string>() ?? throw new AcmeException($"The ACME server's answer lacks '{name}'.");

    private static Uri Url(JsonObject json, string name) => new(Text(json, name));

    private TimeSpan? RetryAfter(HttpResponseMessage response) =>
        response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - time.GetUtcNow(),
            _ => null,
        };

    /// <summary>The server's Retry-After when it gives one (at most 30 s); else <see cref="FirstPoll"/> doubling per attempt up to 2 s.</summary>
    public static TimeSpan PollDelay(TimeSpan? retryAfter, int attempt)
    {
        if (retryAfter is { } asked && asked > TimeSpan.Zero)
        {
            return asked > MaximumPoll ? MaximumPoll : asked;
        }

        var backoff = FirstPoll * Math.Pow(2, Math.Min(attempt, 10));
        return backoff > LongestPoll ? LongestPoll : backoff;
    }
}

internal sealed record AcmeDirectory(Uri NewNonce, Uri NewAccount, Uri NewOrder, Uri? RenewalInfo, string? TermsOfService, bool ExternalAccountRequired);

internal sealed record AcmeOrder(Uri Url, string Status, IReadOnlyList<Uri> Authorizations, Uri Finalize, Uri? Certificate, string? Error, TimeSpan? RetryAfter);

internal sealed record AcmeAuthorization(Uri Url, string Name, string Status, IReadOnlyList<AcmeChallenge> Challenges, TimeSpan? RetryAfter);

internal sealed record AcmeChallenge(string Type, Uri Url, string Token, string Status, string? Error);

/// <summary>What went wrong with the ACME server, in words fit for the console's certificate page.</summary>
internal sealed class AcmeException(string message, string? type = null, HttpStatusCode? status = null, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception(message, inner)
{
    public AcmeException(string message, Exception inner) : this(message, null, null, null, inner)
    {
    }

    public string? Type { get; } = type;
    public HttpStatusCode? Status { get; } = status;

    /// <summary>From a 429 or 503: how long the server asks to be left alone.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;
}
