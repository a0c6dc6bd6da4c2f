using System.Collections.Concurrent;
using Hoop.Proxy.Model;
using Hoop.Proxy.Recording;

namespace Hoop.Proxy.Identity;

/// <summary>
/// Who presents a credential, the same way on every port: a Hoop API key (by its shape) looked up in the policy
/// snapshot, anything else validated as an OIDC access token.
/// </summary>
public sealed class Callers(TokenValidator tokens, Recorder recorder, TimeProvider time)
{
    private static readonly TimeSpan ApiKeyUseInterval = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<Guid, long> _apiKeyUseRecorded = new();

    internal async Task<(Caller? Caller, AuthenticationFailure? Failure)> IdentifyAsync(string credential, PolicySnapshot snapshot, CancellationToken cancellationToken)
    {
        if (!ApiKeys.Looks(credential))
        {
            return await tokens.ValidateAsync(credential, cancellationToken);
        }

        if (snapshot.FindApiKey(ApiKeys.Hash(credential), time.GetUtcNow().UtcDateTime) is not { } key)
        {
            return (null, new AuthenticationFailure("The API key is unknown, revoked or expired."));
        }

        NoteApiKeyUse(key.Id);
        return (key.ToCaller(), null);
    }

    // Last-used time is kept to the minute, so a busy key costs one write a minute, not one per request.
    private void NoteApiKeyUse(Guid keyId)
    {
        var now = time.GetTimestamp();
        var last = _apiKeyUseRecorded.GetOrAdd(keyId, 0);
        if ((last == 0 || time.GetElapsedTime(last, now) >= ApiKeyUseInterval) && _apiKeyUseRecorded.TryUpdate(keyId, now, last))
        {
            recorder.EnqueueApiKeyUse(keyId);
        }
    }
}
