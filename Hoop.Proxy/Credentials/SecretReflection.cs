namespace Hoop.Proxy.Credentials;

/// <summary>
/// Where a backend reflected the stored secret during one exchange or session ("response body",
/// "response header X-Echo", "row"), for its audit record and recording. Written from the relay's threads.
/// </summary>
internal sealed class SecretReflection
{
    private readonly HashSet<string> _places = new(StringComparer.Ordinal);

    public void Found(string place)
    {
        lock (_places)
        {
            _places.Add(place);
        }
    }

    /// <summary>The places found since the last call, in order; empties the list.</summary>
    public IReadOnlyList<string> Take()
    {
        lock (_places)
        {
            var places = _places.Order(StringComparer.Ordinal).ToArray();
            _places.Clear();
            return places;
        }
    }
}
