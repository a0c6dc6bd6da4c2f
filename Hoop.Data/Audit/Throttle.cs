namespace Hoop.Data.Audit;

/// <summary>
/// Lets one through per interval, for records anyone could provoke (a forged sign-in callback, a connection
/// refused at the door): a flood leaves one audit record or log line per interval, not one for each.
/// </summary>
public class Throttle(TimeSpan interval)
{
    private long _last = long.MinValue / 2;

    public bool TryTake(DateTimeOffset now)
    {
        var last = Interlocked.Read(ref _last);
        return now.UtcTicks - last > interval.Ticks && Interlocked.CompareExchange(ref _last, now.UtcTicks, last) == last;
    }
}
