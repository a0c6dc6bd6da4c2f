using Hoop.Proxy.Postgres;
using static Hoop.Proxy.Postgres.PgPending;

namespace Hoop.Tests.Proxy.Postgres;

/// <summary>
/// The relay's queue of what awaits the database's answer, driven by scripted answers as a database gives them
/// (the protocol's rules, fast; the real-cluster tests cover the same through the relay).
/// </summary>
public sealed class PgPendingTests
{
    private static readonly Prepared Select1 = new("SELECT 1", [], []);

    [Fact]
    public void ExtendedQuery_EachAnswerTakesItsMessage_AndTheStatementIsKnownOnceConfirmed()
    {
        var pending = new PgPending();
        var query = new Query("SELECT 1", Simple: false);
        pending.Send(new Parse("s1", Select1));
        pending.Send(new Bind());
        pending.Send(new Describe(Inserted: true));
        pending.Send(query);
        pending.Send(new Sync());

        Assert.Equal([Select1], pending.Candidates("s1")); // awaiting its ParseComplete, already a candidate
        pending.ParseComplete();
        pending.Take<Bind>("BindComplete");
        Assert.True(pending.Take<Describe>("RowDescription").Inserted);
        Assert.Same(query, pending.Head());
        Assert.Same(query, pending.Take<Query>("CommandComplete"));

        Assert.Empty(pending.ReadyForQuery());
        Assert.Equal([Select1], pending.Candidates("s1"));
        Assert.Null(pending.Head());
    }

    [Fact]
    public void ErrorInAPipeline_SkipsToItsSync_AndWhatNeverRanSaysSo()
    {
        var pending = new PgPending();
        var never = new Query("SELECT 1", Simple: false);
        pending.Send(new Parse("s1", Select1));
        pending.Send(new Bind());
        pending.Send(never);
        pending.Send(new Sync());
        var next = new Query("SELECT 2", Simple: true);
        pending.Send(next);

        Assert.Null(pending.Failed()); // the Parse failed: no query to blame, the database skips to the Sync
        Assert.Equal([never], pending.ReadyForQuery());
        Assert.Equal("not run: an earlier message of the same pipeline failed", never.Error);
        Assert.Empty(pending.Candidates("s1")); // never prepared

        Assert.Equal([next], pending.ReadyForQuery()); // skipping ended at the Sync
        Assert.Null(next.Error);
    }

    [Fact]
    public void ErrorOfASimpleQuery_DoesNotSkip()
    {
        var pending = new PgPending();
        var failing = new Query("SELEC 1", Simple: true);
        pending.Send(failing);
        pending.Send(new Query("SELECT 2", Simple: true));

        Assert.Same(failing, pending.Failed());
        Assert.Equal([failing], pending.ReadyForQuery());
        Assert.Single(pending.ReadyForQuery());
    }

    [Fact]
    public void AnAnswerThatDoesNotFitTheHead_EndsTheSession()
    {
        var pending = new PgPending();
        pending.Send(new Bind());

        var e = Assert.Throws<PgProtocolException>(() => pending.Take<Parse>("ParseComplete"));
        Assert.Equal("08P01", e.SqlState);
        Assert.Equal("ParseComplete answered Bind", e.Message);
        Assert.Equal("08P01", Assert.Throws<PgProtocolException>(() => new PgPending().ReadyForQuery()).SqlState);
    }

    [Fact]
    public void Close_ForgetsTheStatement_AndANewParseOfTheNameIsACandidateBesideTheOld()
    {
        var pending = new PgPending();
        pending.Send(new Parse("s1", Select1));
        pending.ParseComplete();
        var select2 = new Prepared("SELECT 2", [], []);
        pending.Send(new Parse("s1", select2));
        Assert.Equal([Select1, select2], pending.Candidates("s1"));
        pending.ParseComplete();

        pending.Send(new Close("s1"));
        pending.CloseComplete();

        Assert.Empty(pending.Candidates("s1"));
    }

    [Fact]
    public void TooMuchPreparedText_IsRefusedWith54000()
    {
        var pending = new PgPending();
        var huge = new string('x', (int)MaxStatementChars + 1);

        Assert.Equal("54000", Assert.Throws<PgProtocolException>(() => pending.EnsureRoomFor(huge)).SqlState);
    }

    [Fact]
    public void SessionEnd_HandsBackUnansweredQueries_WithTheReason()
    {
        var pending = new PgPending();
        var waiting = new Query("SELECT pg_sleep(10)", Simple: true);
        pending.Send(waiting);

        Assert.Equal([waiting], pending.Abandon());
        Assert.Equal("the session ended before the database answered", waiting.Error);
        Assert.Null(pending.Head());
    }
}
