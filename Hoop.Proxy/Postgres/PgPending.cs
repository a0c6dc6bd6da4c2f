using Hoop.Proxy.Masking;

namespace Hoop.Proxy.Postgres;

/// <summary>
/// What the relay sent to the database and awaits an answer for, in the order sent, and the prepared statements the
/// database confirmed. The database answers in order, so each answer belongs to the head; one that does not fit it
/// ends the session (<see cref="PgProtocolException"/>): Hoop never guesses what a result belongs to. After an
/// extended-protocol error the database skips everything up to the next Sync, and so does this queue. Both pumps use
/// it; it locks for them.
/// </summary>
internal sealed class PgPending
{
    public const int MaxPreparedStatements = 10_000;
    public const long MaxStatementChars = 32L * 1024 * 1024;

    private readonly Lock _lock = new();
    private readonly Queue<Sent> _sent = new();
    private readonly Dictionary<string, Prepared> _statements = new(StringComparer.Ordinal);
    private long _statementChars;
    private bool _skipping;

    public void Send(Sent sent)
    {
        lock (_lock)
        {
            _sent.Enqueue(sent);
        }
    }

    /// <summary>Refuses another prepared statement once a session holds too many (SQLSTATE 54000).</summary>
    public void EnsureRoomFor(string sql)
    {
        lock (_lock)
        {
            if (_statements.Count >= MaxPreparedStatements || _statementChars + sql.Length > MaxStatementChars)
            {
                throw new PgProtocolException("54000",
                    $"too many prepared statements in one session (at most {MaxPreparedStatements}, {MaxStatementChars / 1024 / 1024} M characters); close some first");
            }
        }
    }

    /// <summary>
    /// Every text a statement name may stand for when a Bind names it: the one the database confirmed, and those of
    /// Parses still awaiting their answer (each distinct text once).
    /// </summary>
    public List<Prepared> Candidates(string statement)
    {
        lock (_lock)
        {
            var candidates = new List<Prepared>();
            if (_statements.TryGetValue(statement, out var confirmed))
            {
                candidates.Add(confirmed);
            }

            candidates.AddRange(_sent.OfType<Parse>().Where(p => p.Name == statement && p.Statement is not null).Select(p => p.Statement!));
            return candidates.DistinctBy(c => c.Sql, StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>The head, removed, when it is what <paramref name="answer"/> answers.</summary>
    public T Take<T>(string answer) where T : Sent
    {
        lock (_lock)
        {
            if (_sent.TryPeek(out var head) && head is T expected)
            {
                _sent.Dequeue();
                return expected;
            }

            throw Mismatch(answer, head);
        }
    }

    /// <summary>The head, left in place, when it is what <paramref name="answer"/> answers.</summary>
    public T Peek<T>(string answer) where T : Sent
    {
        lock (_lock)
        {
            return _sent.TryPeek(out var head) && head is T expected ? expected : throw Mismatch(answer, head);
        }
    }

    /// <summary>The query whose answer is arriving: the head, if it is a query.</summary>
    public Query? Head()
    {
        lock (_lock)
        {
            return _sent.TryPeek(out var head) ? head as Query : null;
        }
    }

    /// <summary>ParseComplete: the statement is prepared under its name (replacing what the name stood for).</summary>
    public void ParseComplete()
    {
        var parse = Take<Parse>("ParseComplete");
        lock (_lock)
        {
            if (parse.Statement is { } prepared)
            {
                _statementChars += prepared.Sql.Length - (_statements.GetValueOrDefault(parse.Name)?.Sql.Length ?? 0);
                _statements[parse.Name] = prepared;
            }
        }
    }

    /// <summary>CloseComplete: a closed statement's name stands for nothing any more.</summary>
    public void CloseComplete()
    {
        var close = Take<Close>("CloseComplete");
        lock (_lock)
        {
            if (close.Statement is { } name && _statements.Remove(name, out var closed))
            {
                _statementChars -= closed.Sql.Length;
            }
        }
    }

    /// <summary>
    /// An ErrorResponse: the query it answers, if the head is one. Unless it answers a simple query, the database now
    /// skips every message up to the next Sync.
    /// </summary>
    public Query? Failed()
    {
        lock (_lock)
        {
            _sent.TryPeek(out var head);
            if (head is not null and not Query { Simple: true })
            {
                _skipping = true;
            }

            return head as Query;
        }
    }

    /// <summary>
    /// ReadyForQuery answers the head Sync or simple query; after an error, everything the database skipped up to that
    /// Sync goes too (statements never prepared, queries never run). Returns the queries it ends, in order.
    /// </summary>
    public List<Query> ReadyForQuery()
    {
        var ended = new List<Query>();
        lock (_lock)
        {
            while (_sent.TryDequeue(out var sent))
            {
                if (sent is Query query)
                {
                    if (_skipping && query.Error is null && query.Tags.Count == 0)
                    {
                        query.Error = query.Stop is { } stop ? $"{stop.SqlState}: {stop.Message}" : "not run: an earlier message of the same pipeline failed";
                    }

                    ended.Add(query);
                    if (query.Simple && !_skipping)
                    {
                        return ended;
                    }
                }
                else if (sent is Sync)
                {
                    _skipping = false;
                    return ended;
                }
                else if (!_skipping)
                {
                    throw new PgProtocolException("08P01", $"ReadyForQuery answered {sent.GetType().Name}");
                }
            }

            throw new PgProtocolException("08P01", "ReadyForQuery answered nothing Hoop sent");
        }
    }

    /// <summary>The session ended: the queries still awaiting an answer, each with that as its error.</summary>
    public List<Query> Abandon()
    {
        lock (_lock)
        {
            var unanswered = _sent.OfType<Query>().ToList();
            foreach (var query in unanswered)
            {
                query.Error ??= "the session ended before the database answered";
            }

            _sent.Clear();
            return unanswered;
        }
    }

    private static PgProtocolException Mismatch(string answer, Sent? head) =>
        new("08P01", $"{answer} answered {head?.GetType().Name ?? "nothing"}");

    /// <summary>A prepared statement: its text and the parameter types the agent declared (0: left to the database).</summary>
    public sealed record Prepared(string Sql, int[] Types, IReadOnlyList<Guid> ApprovedBy);

    /// <summary>What was sent to the database and awaits its answer.</summary>
    public abstract record Sent;

    public sealed record Sync : Sent;

    public sealed record Bind : Sent;

    /// <summary>A Parse; <paramref name="Statement"/> is null for one Hoop refused (the database will reject it).</summary>
    public sealed record Parse(string Name, Prepared? Statement) : Sent;

    /// <summary>A Close; <paramref name="Statement"/> names the prepared statement it closes (null for a portal).</summary>
    public sealed record Close(string? Statement) : Sent;

    /// <summary>A Describe; <paramref name="Inserted"/> when Hoop added it, so its answer is not the agent's.</summary>
    public sealed record Describe(bool Inserted) : Sent;

    /// <summary>A simple query, or an extended query's Execute, with what the recording keeps of its answer.</summary>
    public sealed record Query(string Sql, bool Simple) : Sent
    {
        public DateTime At { get; init; }
        public long Started { get; init; }
        public IReadOnlyList<string?>? Parameters { get; init; }
        public PgStop? Stop { get; set; }
        public List<Guid> ApprovedBy { get; } = [];
        public MaskingCounts Counts { get; init; } = new();
        public PgColumn[]? Columns { get; set; }
        public List<string?[]> Rows { get; } = [];
        public long RowCount { get; set; }
        public long RecordedChars { get; set; }
        public List<string> Tags { get; } = [];
        public string? Error { get; set; }
    }
}
