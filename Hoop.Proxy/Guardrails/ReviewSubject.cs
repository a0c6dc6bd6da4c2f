namespace Hoop.Proxy.Guardrails;

/// <summary>
/// What a review rule shows its reviewers and what makes two requests "the identical request" for an approval; each
/// is computed once, when the first review rule matches.
/// </summary>
internal sealed class ReviewSubject(Func<string> fingerprint, Func<string> description, string? justification, TimeSpan preferredWait, bool reviewable = true)
{
    private readonly Lazy<string> _fingerprint = new(fingerprint);
    private readonly Lazy<string> _description = new(description);

    public string Fingerprint => _fingerprint.Value;
    public string Description => _description.Value;
    public string? Justification => justification;

    /// <summary>How long the caller is willing to wait for a decision (HTTP's Prefer: wait=N).</summary>
    public TimeSpan PreferredWait => preferredWait;

    /// <summary>False when a reviewer could not be shown all of it: a review rule then denies instead.</summary>
    public bool Reviewable => reviewable;
}
