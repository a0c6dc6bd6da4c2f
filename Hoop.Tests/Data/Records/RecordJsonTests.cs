using Hoop.Data.Records;

namespace Hoop.Tests.Data.Records;

/// <summary>Recorded events as typed records: what is written reads back the same, and events of earlier versions still read.</summary>
public sealed class RecordJsonTests
{
    [Fact]
    public void HttpExchange_WrittenAndRead_IsTheSame()
    {
        var record = new HttpExchangeRecord
        {
            Request = new HttpRequestRecord("POST", "/billing/charges", "?page=2", "HTTP/2", new Dictionary<string, string> { ["Authorization"] = "[removed]" },
                new BodyRecord(18, false, "{\"amount\": \"\\u0022\"}", null)),
            Response = new HttpResponseRecord(201, new Dictionary<string, string>(), new BodyRecord(70_000, true, "partial", null)),
            ApprovedBy = [Guid.NewGuid()],
            Masked = new Dictionary<string, int> { ["email"] = 2 },
            Tls = new TlsRecord("Tls13 TLS_AES_256_GCM_SHA384", "Tls13 TLS_AES_128_GCM_SHA256", "CaBundle"),
            DurationMs = 1.25,
        };

        var json = RecordJson.Write(record);
        var read = RecordJson.ReadHttp("http", json)!;

        Assert.Contains("\"v\":1", json, StringComparison.Ordinal);
        Assert.DoesNotContain("null", json, StringComparison.Ordinal); // nulls are left out
        Assert.Equal(record.Request with { Headers = read.Request.Headers }, read.Request);
        Assert.Equal("[removed]", read.Request.Headers["Authorization"]);
        Assert.Equal(record.Response with { Headers = read.Response.Headers }, read.Response);
        Assert.Equal(record.ApprovedBy, read.ApprovedBy);
        Assert.Equal(2, read.Masked!["email"]);
        Assert.Equal(record.Tls, read.Tls);
        Assert.Equal(1.25, read.DurationMs);
    }

    [Fact]
    public void SqlQuery_WrittenAndRead_IsTheSame()
    {
        var record = new SqlQueryRecord
        {
            Query = "SELECT id, email FROM users WHERE id = $1",
            Protocol = "extended",
            Parameters = ["7", null],
            Columns = ["id", "email"],
            Rows = [["7", "<email>"], ["8", null]],
            RowCount = 40,
            RowsTruncated = true,
            Commands = ["SELECT 40"],
            Rule = "no-drop",
            Tls = new TlsRecord(null, "TLSv1.3", "SystemRoots"),
        };

        var read = RecordJson.ReadSql("sql-held", RecordJson.Write(record))!;

        Assert.Equal(record.Query, read.Query);
        Assert.Equal(record.Parameters, read.Parameters);
        Assert.Equal(record.Columns, read.Columns);
        Assert.Equal(2, read.Rows!.Count);
        Assert.Equal(record.Rows[1], read.Rows[1]);
        Assert.Equal((40L, true, "no-drop"), (read.RowCount, read.RowsTruncated, read.Rule));
    }

    /// <summary>Events recorded before the record had a version field (nulls written out) read as version 1.</summary>
    [Fact]
    public void EventsOfEarlierVersions_StillRead()
    {
        const string http = """
            {"request":{"method":"GET","path":"/billing/echo","query":null,"protocol":"HTTP/1.1","headers":{"Authorization":"[removed]"},"body":null},
             "response":{"status":200,"headers":{"Content-Type":"application/json"},"body":{"bytes":5,"truncated":false,"text":"hello","note":null}},
             "upgrade":false,"error":null,"secretReflected":null,"approvedBy":null,"masked":null,"maskingSkipped":null,
             "tls":{"inbound":"Tls13 TLS_AES_256_GCM_SHA384","upstream":null,"verification":"CaBundle"},"durationMs":3.5}
            """;
        const string sql = """
            {"query":"SELECT 1","protocol":"simple","parameters":null,"columns":["?column?"],"rows":[["1"]],"rowCount":1,"rowsTruncated":false,
             "commands":["SELECT 1"],"error":null,"secretReflected":null,"rule":null,"approvedBy":null,"masked":null,
             "tls":{"inbound":null,"upstream":"TLSv1.3","verification":"SystemRoots"},"durationMs":0.4}
            """;

        var exchange = RecordJson.ReadHttp("http", http)!;
        var query = RecordJson.ReadSql("sql", sql)!;

        Assert.Equal((1, "GET", "hello"), (exchange.V, exchange.Request.Method, exchange.Response.Body!.Text));
        Assert.Equal((1, "SELECT 1", "1"), (query.V, query.Query, query.Rows![0][0]));
    }

    [Theory]
    [InlineData("http", "not json")]
    [InlineData("http", "[1, 2]")]
    [InlineData("sql", "{\"query\": 5")]
    [InlineData("sql", "{\"v\": 1, \"request\": {}}")] // an HTTP record's fields under a SQL kind: no query
    public void ContentThatIsNotARecord_ReadsAsNone(string kind, string content)
    {
        Assert.Null(kind == "http" ? RecordJson.ReadHttp(kind, content) : RecordJson.ReadSql(kind, content));
    }

    [Fact]
    public void AKindOfTheOtherProtocol_ReadsAsNone()
    {
        Assert.Null(RecordJson.ReadSql("http", "{\"query\":\"SELECT 1\",\"protocol\":\"simple\"}"));
        Assert.Null(RecordJson.ReadHttp("sql-denied", "{}"));
    }
}
