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
             "upgrade":false,"masked":{"email":2},"tls":{"inbound":"Tls13 TLS_AES_256_GCM_SHA384"},"durationMs":1.25}
            """;

        var text = SearchIndex.TextOf(content);

        Assert.Equal(
            "GET\n/billing/echo\n?note=zebracorn42\nHost: billing.hoop.localhost\nAuthorization: [removed]\n404\nServer: Kestrel\n" +
            "no such \"invoice\"\nemail: 2\nTls13 TLS_AES_256_GCM_SHA384\n", text);
    }

    [Fact]
    public void TextOf_SqlQuery_KeepsParametersAndRowValues()
    {
        const string content = """{"query":"SELECT * FROM t WHERE id = $1","parameters":["42"],"columns":["id","email"],"rows":[["42","***"],[7,null]],"rowCount":2}""";

        Assert.Equal("SELECT * FROM t WHERE id = $1\n42\nid\nemail\n42\n***\n7\n2\n", SearchIndex.TextOf(content));
    }

    [Theory]
    [InlineData("changed in the store {")]
    [InlineData("""{"query":"a lone surrogate \udc00"}""")]
    public void TextOf_ContentHoopDidNotWrite_IsIndexedAsItIs(string content)
    {
        Assert.Equal(content, SearchIndex.TextOf(content));
    }

    [Fact]
    public void TextOf_TopLevelValue_IsItsText()
    {
        Assert.Equal("just text\n", SearchIndex.TextOf("\"just text\""));
    }
}
