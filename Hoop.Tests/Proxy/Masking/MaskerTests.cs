using System.Text;
using System.Text.Json;
using Hoop.Data.Entities;
using Hoop.Proxy.Masking;

namespace Hoop.Tests.Proxy.Masking;

/// <summary>Each detector with values it must find and look-alikes it must leave; the styles; JSON, form and text bodies.</summary>
public sealed class MaskerTests
{
    private static readonly byte[] Key = Encoding.ASCII.GetBytes("0123456789abcdef0123456789abcdef");

    [Theory]
    [InlineData("email", "write to jane.doe+ops@example.co.uk today", "jane.doe+ops@example.co.uk")]
    [InlineData("card", "card 4111 1111 1111 1111 on file", "4111 1111 1111 1111")]
    [InlineData("card", "amex 378282246310005.", "378282246310005")]
    [InlineData("card", "card 4111111111111111 123 (cvv after it)", "4111111111111111")]
    [InlineData("card", "card 4111 1111 1111 1111 12/26", "4111 1111 1111 1111")]
    [InlineData("phone", "E.164 +14155552671.", "+14155552671")]
    [InlineData("ssn", "ssn 123-45-6789", "123-45-6789")]
    // The cheap tests before each pattern must let the shortest values through, at either end of the text.
    [InlineData("ssn", "123-45-6789", "123-45-6789")]
    [InlineData("ssn", "call 415-555-0132 or use 123-45-6789", "123-45-6789")]
    [InlineData("email", "a@b.io", "a@b.io")]
    [InlineData("ipv6", "::1", "::1")]
    [InlineData("pem-private-key", "-----BEGIN PRIVATE KEY-----x-----END PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----x-----END PRIVATE KEY-----")]
    [InlineData("phone", "call +1 415-555-0132 now", "+1 415-555-0132")]
    [InlineData("phone", "call (415) 555-0132", "(415) 555-0132")]
    [InlineData("iban", "pay DE89 3704 0044 0532 0130 00 please", "DE89 3704 0044 0532 0130 00")]
    [InlineData("iban", "pay GB82WEST12345698765432", "GB82WEST12345698765432")]
    [InlineData("ipv4", "from 192.168.10.254:443", "192.168.10.254")]
    [InlineData("ipv6", "from 2001:db8::8a2e:370:7334 ok", "2001:db8::8a2e:370:7334")]
    [InlineData("jwt", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-1", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-1")]
    [InlineData("aws-access-key", "key AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE")]
    [InlineData("aws-secret-key", "secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")]
    [InlineData("aws-secret-key", "secret=/JalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE+ ok", "/JalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE+")]
    [InlineData("api-key", "OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuv123", "sk-proj-abcdefghijklmnopqrstuv123")]
    [InlineData("api-key", "GITHUB ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789")]
    [InlineData("api-key", "Authorization: Bearer abc.def-ghi_jkl~mno+pqr/stu", "Bearer abc.def-ghi_jkl~mno+pqr/stu")]
    [InlineData("api-key", "stripe sk_live_abcdefghijklmnopqrstu1", "sk_live_abcdefghijklmnopqrstu1")]
    [InlineData("api-key", "slack xoxb-1234567890", "xoxb-1234567890")]
    [InlineData("api-key", "google AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIzaSyA1234567890abcdefghijklmnopqrstuv")]
    [InlineData("api-key", "gitlab glpat-abcdefghij0123456789", "glpat-abcdefghij0123456789")]
    [InlineData("api-key", "github_pat_abcdefghij0123456789abcdefghij0123456789", "github_pat_abcdefghij0123456789abcdefghij0123456789")]
    [InlineData("api-key", "github_pat_11ABCDEFG0123456789_abcdefXYZabcdefXYZ0123456789", "github_pat_11ABCDEFG0123456789_abcdefXYZabcdefXYZ0123456789")]
    [InlineData("iban", "pay to GB82 WEST 1234 5698 7654 32 now", "GB82 WEST 1234 5698 7654 32")]
    [InlineData("ipv4", "from 10.0.0.1 ok", "10.0.0.1")]
    [InlineData("pem-private-key", "k=-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQEF\n-----END PRIVATE KEY-----!",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQEF\n-----END PRIVATE KEY-----")]
    // Glued to letters or '_' (no word boundary there): still found, since numbers are bounded by digits only.
    [InlineData("card", "4111111111111111x", "4111111111111111")]
    [InlineData("card", "cc4111111111111111", "4111111111111111")]
    [InlineData("card", "4111111111111111_", "4111111111111111")]
    [InlineData("card", "ref_4111-1111-1111-1111_end", "4111-1111-1111-1111")]
    [InlineData("ssn", "ssn123-45-6789x", "123-45-6789")]
    [InlineData("ipv4", "host10.0.0.1x", "10.0.0.1")]
    [InlineData("phone", "tel+14155552671x", "+14155552671")]
    public void Detector_FindsTheValue(string detector, string text, string value)
    {
        var found = Detectors.BuiltIn[detector].Find(text).Select(m => text.Substring(m.Start, m.Length)).ToList();

        Assert.Equal([value], found);
    }

    [Theory]
    [InlineData("email", "not an email: jane.doe@ or @example.com or a@b")]
    [InlineData("card", "4111 1111 1111 1112 fails Luhn; order 1234567890123 too")]
    [InlineData("ssn", "000-12-3456, 666-12-3456, 912-34-5678, 123-00-4567, 123-45-0000")]
    [InlineData("phone", "on 2024-01-15 at 12:30, version 1.2.3, 555-0132")]
    [InlineData("iban", "DE89 3704 0044 0532 0130 01 and GB82WEST12345698765433")]
    [InlineData("ipv4", "version 999.1.2.3 and 1.2.3 and ١.٢.٣.٤")]
    [InlineData("ipv6", "at 12:30:45 and a::b::c")]
    [InlineData("jwt", "eyJ not a token, eyJhbGci.only-two")]
    [InlineData("aws-access-key", "AKIA12345 and AKIAIOSFODNN7EXAMPL")]
    [InlineData("aws-secret-key", "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709 is hex, and a longer blob wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYandmore")]
    [InlineData("api-key", "sk-short, ghp_short, the word bearer alone")]
    [InlineData("pem-private-key", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----")]
    // Glued look-alikes still fail: a longer run of digits is not a card, a bad checksum is not one either.
    [InlineData("card", "id41111111111111111111111x and x4111111111111112y")]
    [InlineData("ssn", "1123-45-6789 and 123-45-67890")]
    [InlineData("ipv4", "v1.2.3.4444 and 10.0.0.256x")]
    public void Detector_LeavesLookAlikes(string detector, string text)
    {
        Assert.Empty(Detectors.BuiltIn[detector].Find(text));
    }

    [Fact]
    public void Styles_Redact_KeepLast_AndPseudonymsThatJoin()
    {
        var counts = new MaskingCounts();
        var redact = Masker(Rule("email"));
        var partial = Masker(Rule("card", MaskStyle.Partial, keepLast: 4));
        var pseudonym = Masker(Rule("email", MaskStyle.Pseudonym));

        Assert.Equal("to [EMAIL].", redact.MaskText("to a@example.com.", counts));
        Assert.Equal("card ****-****-****-1111", partial.MaskText("card 4111-1111-1111-1111", counts));
        var first = pseudonym.MaskText("a@example.com", counts);
        Assert.Matches(@"^\[EMAIL:[0-9a-f]{12}\]$", first);
        Assert.Equal(first, pseudonym.MaskText("a@example.com", counts));
        Assert.NotEqual(first, pseudonym.MaskText("b@example.com", counts));
        Assert.NotEqual(first, new Masker([CompiledMaskingRule.Compile(Rule("email", MaskStyle.Pseudonym), null)], new byte[32]).MaskText("a@example.com", counts));
        Assert.Equal(2 + 1 + 3, counts.Total);
        Assert.Equal(5, counts.ByDetector["email"]);
    }

    [Fact]
    public void Json_IsMaskedValueByValue_AndStaysValidWithItsNumbers()
    {
        var masker = Masker(Rule("email"), Rule("card", MaskStyle.Partial, keepLast: 4), Field("secret-fields", "password\ncustomer.ssn"));
        var json = """
            {"id": 42, "price": 19.99, "ok": true, "none": null, "note": "mail a@example.com or b@example.com",
             "customer": {"ssn": 123456789, "name": "Ann \"Q\" Lee ☃", "cards": [4111111111111111, "5500 0000 0000 0004"]},
             "items": [{"password": "hunter2"}, {"password": {"deep": [1, "x"]}}], "ssn": "top-level is not customer.ssn"}
            """;
        var counts = new MaskingCounts();

        var masked = JsonDocument.Parse(masker.MaskJson(Encoding.UTF8.GetBytes(json), counts)).RootElement;

        Assert.Equal(42, masked.GetProperty("id").GetInt32());
        Assert.Equal(19.99, masked.GetProperty("price").GetDouble());
        Assert.True(masked.GetProperty("ok").GetBoolean());
        Assert.Equal(JsonValueKind.Null, masked.GetProperty("none").ValueKind);
        Assert.Equal("mail [EMAIL] or [EMAIL]", masked.GetProperty("note").GetString());
        var customer = masked.GetProperty("customer");
        Assert.Equal("[SECRET_FIELDS]", customer.GetProperty("ssn").GetString());
        Assert.Equal("Ann \"Q\" Lee ☃", customer.GetProperty("name").GetString());
        Assert.Equal("************1111", customer.GetProperty("cards")[0].GetString());
        Assert.Equal("**** **** **** 0004", customer.GetProperty("cards")[1].GetString());
        Assert.Equal("[SECRET_FIELDS]", masked.GetProperty("items")[0].GetProperty("password").GetString());
        Assert.Equal("[SECRET_FIELDS]", masked.GetProperty("items")[1].GetProperty("password").GetProperty("deep")[1].GetString());
        Assert.Equal("top-level is not customer.ssn", masked.GetProperty("ssn").GetString());
        Assert.Equal(2, counts.ByDetector["email"]);
        Assert.Equal(2, counts.ByDetector["card"]);
        Assert.Equal(4, counts.ByDetector["secret-fields"]);
    }

    [Fact]
    public void InvalidJson_IsMaskedAsText_FormFieldByField_AndOtherTypesPassOrAreBlocked()
    {
        var masker = Masker(Rule("email"), Field("pw", "password"), new MaskingRule
        {
            Name = "no-binaries", Detector = CompiledMaskingRule.ContentType, Pattern = "application/octet-stream",
        });
        var counts = new MaskingCounts();

        // Without field rules, a body declared JSON that is not is masked by pattern.
        Assert.Equal("{broken [EMAIL]", Encoding.UTF8.GetString(Masker(Rule("email")).MaskBody("{broken a@b.io"u8, "application/json", counts)));
        Assert.Equal("user=%5BEMAIL%5D&password=%5BPW%5D&keep=a%2Bb",
            Encoding.UTF8.GetString(masker.MaskBody("user=ann%40example.com&password=hunter2&keep=a%2Bb"u8, "application/x-www-form-urlencoded", counts)));
        Assert.Equal("id,mail\n1,[EMAIL]", Encoding.UTF8.GetString(masker.MaskBody("id,mail\n1,x@y.org"u8, "text/csv; charset=utf-8", counts)));
        Assert.Equal("a@b.io"u8.ToArray(), masker.MaskBody("a@b.io"u8, "image/png", counts));
        Assert.Contains("no-binaries", Assert.Throws<MaskingException>(() => masker.MaskBody("x"u8, "application/octet-stream", counts)).Message);
    }

    [Fact]
    public void EventStreamsAndJsonLines_AreMaskedLineByLine()
    {
        var masker = Masker(Rule("email"), Field("pw", "password"));
        var counts = new MaskingCounts();

        var sse = masker.MaskBody("event: note\r\ndata: {\"password\":\"x\",\"to\":\"a@b.io\"}\r\ndata: plain a@b.io\r\n\r\n"u8, "text/event-stream", counts);
        var ndjson = masker.MaskBody("{\"password\":\"x\"}\n{\"mail\":\"c@d.io\"}\n"u8, "application/x-ndjson", counts);

        Assert.Equal("event: note\r\ndata: {\"password\":\"[PW]\",\"to\":\"[EMAIL]\"}\r\ndata: plain [EMAIL]\r\n\r\n", Encoding.UTF8.GetString(sse));
        Assert.Equal("{\"password\":\"[PW]\"}\n{\"mail\":\"[EMAIL]\"}\n", Encoding.UTF8.GetString(ndjson));
        Assert.Throws<MaskingException>(() => masker.MaskBody("{\"password\": broken\n"u8, "application/x-ndjson", counts));
    }

    [Fact]
    public void WhatCannotBeMasked_FailsClosed_NeverPassesUnmasked()
    {
        var withFields = Masker(Rule("email"), Field("pw", "password"));
        var counts = new MaskingCounts();

        // Not JSON although declared so: its fields cannot be found.
        Assert.Contains("does not parse as JSON", Assert.Throws<MaskingException>(() => withFields.MaskBody("{\"password\": \"x\""u8, "application/json", counts)).Message);
        Assert.Throws<MaskingException>(() => withFields.MaskBody("{\"a\":\"\\ud800\"}"u8, "application/json", counts));
        Assert.Contains("charset", Assert.Throws<MaskingException>(() => withFields.MaskBody("a@b.io"u8, "text/plain; charset=utf-16", counts)).Message);
        // A byte-order mark is not a reason to give up.
        var bom = new byte[] { 0xEF, 0xBB, 0xBF }.Concat("{\"password\":\"x\"}"u8.ToArray()).ToArray();
        Assert.Equal("{\"password\":\"[PW]\"}", Encoding.UTF8.GetString(withFields.MaskBody(bom, "application/json; charset=utf-8", counts)));
    }

    [Theory]
    [InlineData(CompiledMaskingRule.Regex, "", "empty")]
    [InlineData(CompiledMaskingRule.Regex, "(a+)+\\1", "non-backtracking")]
    [InlineData(CompiledMaskingRule.Regex, "(?<=x)y", "non-backtracking")]
    [InlineData(CompiledMaskingRule.Regex, "a*", "matches empty text")]
    [InlineData(CompiledMaskingRule.Regex, "[unclosed", "Invalid pattern")]
    [InlineData(CompiledMaskingRule.Words, " , ", "empty")]
    [InlineData(CompiledMaskingRule.JsonField, "customer..ssn", "dotted paths")]
    [InlineData(CompiledMaskingRule.ContentType, "octet-stream", "media type")]
    [InlineData("creditcard", null, "not a detector")]
    public void BadRules_AreRefusedWithTheReason(string detector, string? pattern, string reason)
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => CompiledMaskingRule.Compile(new MaskingRule { Name = "r", Detector = detector, Pattern = pattern }, null));

        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void CustomRegexAndWords_MaskWhatTheyName()
    {
        var masker = Masker(new MaskingRule { Name = "ticket", Detector = CompiledMaskingRule.Regex, Pattern = @"TCK-\d{6}" },
            new MaskingRule { Name = "codenames", Detector = CompiledMaskingRule.Words, Pattern = "Project Falcon\nbluebird" });

        Assert.Equal("[TICKET] is about [CODENAMES] and [CODENAMES]; bluebirds stay",
            masker.MaskText("TCK-123456 is about project falcon and Bluebird; bluebirds stay", new MaskingCounts()));
    }

    private static MaskingRule Rule(string detector, MaskStyle style = MaskStyle.Redact, int keepLast = 0) =>
        new() { Name = detector, Detector = detector, Style = style, KeepLast = keepLast };

    private static MaskingRule Field(string name, string fields) =>
        new() { Name = name, Detector = CompiledMaskingRule.JsonField, Pattern = fields };

    private static Masker Masker(params MaskingRule[] rules) => new(rules.Select(r => CompiledMaskingRule.Compile(r, null)).ToList(), Key);
}
