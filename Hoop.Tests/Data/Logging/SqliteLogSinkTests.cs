using Hoop.Data.Logging;
using Hoop.Data.Store;
using Hoop.Tests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Serilog.Events;
using Serilog.Parsing;

namespace Hoop.Tests.Data.Logging;

public sealed class SqliteLogSinkTests : IDisposable
{
    private readonly TempFolder _folder = new();

    [Fact]
    public async Task Emit_AfterStart_WritesEventsToTheStore()
    {
        await using var host = await HoopTestHost.StartAsync(_folder.Path);
        var sink = host.Services.GetRequiredService<SqliteLogSink>();
        var contexts = host.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>();

        sink.Emit(Event("sink test {Number}", 42));

        // Other events (the host's own) share the queue: wait for this one's row, not for any write.
        Hoop.Data.Entities.LogEvent? row = null;
        for (var i = 0; i < 100 && row is null; i++)
        {
            await Task.Delay(50);
            await using var db = await contexts.CreateDbContextAsync();
            row = await db.LogEvents.SingleOrDefaultAsync(e => e.Message == "sink test 42");
        }

        Assert.NotNull(row);
        Assert.Equal("Warning", row.Level);
        Assert.Equal("Hoop.Tests", row.Category);
        Assert.Equal(7, row.EventId);
    }

    [Fact]
    public async Task Emit_QueueFull_DropsAndCountsWithoutBlocking()
    {
        await using var sink = new SqliteLogSink(capacity: 100);

        for (var i = 0; i < 150; i++)
        {
            sink.Emit(Event("line {Number}", i));
        }

        Assert.Equal(50, sink.Dropped);
        Assert.Equal(0, sink.Written);
    }

    private static LogEvent Event(string template, int number) => new(
        DateTimeOffset.UtcNow, LogEventLevel.Warning, null, new MessageTemplateParser().Parse(template),
        [
            new LogEventProperty("Number", new ScalarValue(number)),
            new LogEventProperty("SourceContext", new ScalarValue("Hoop.Tests")),
            new LogEventProperty("EventId", new StructureValue([new LogEventProperty("Id", new ScalarValue(7))])),
        ]);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _folder.Dispose();
    }
}
