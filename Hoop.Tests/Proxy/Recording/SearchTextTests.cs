using Hoop.Proxy.Recording;

namespace Hoop.Tests.Proxy.Recording;

public sealed class SearchTextTests
{
    [Fact]
    public void TextOf_HttpExchange_IsItsValuesWithHeaderLinesAndNoKeysDurationsOrSizes()
    {
        const string content = """
            {"request":{"method":"GET","path":"/billing/echo","query":"?note=zebracorn42","headers":{"Host":"billing.hoop.localhost","Authorization":"[removed]"},"body":null},
             "response":{"status":404,"headers":{"Server":"Kestrel"},"body":{"bytes":1024,"truncated":false,"text":"no such \"invoice\"","note":null}},
             "upgrade":false,"tls":{"inbound":"Tls13 TLS_AES_256_GCM_SHA384"},"durationMs":1.25}
            """;

        var text = SearchIndex.TextOf(content);

        Assert.Equal(
            "GET\n/billing/echo\n?note=zebracorn42\nHost: billing.hoop.localhost\nAuthorization: [removed]\n404\nServer: Kestrel\n" +
            "no such \"invoice\"\nTls13 TLS_AES_256_GCM_SHA384\n", text);
    }

    [Fact]
    public void TextOf_SqlQuery_KeepsParametersAndRowValues()
    {
        const string content = """{"query":"SELECT * FROM t WHERE id = $1","parameters":["42"],"columns":["id","email"],"rows":[["42","***"],[7,null]],"rowCount":2}""";

        Assert.Equal("SELECT * FROM t WHERE id = $1\n42\nid\nemail\n42\n***\n7\n2\n", SearchIndex.TextOf(content));
    }

    [Fact]
    public void TextOf_ContentThatIsNotJson_IsIndexedAsItIs()
    {
        Assert.Equal("changed in the store {", SearchIndex.TextOf("changed in the store {"));
    }
}
