using System.Net.Http.Json;
using System.Text.Json;
using Hoop.Admin.Hosting;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Recording;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Data.Audit;

/// <summary>
/// Tamper evidence on a real host: sessions recorded through the proxy, then rows edited, deleted and reordered
/// directly in SQLite, as someone with the database file (and not the master key) could.
/// </summary>
public sealed class RecordIntegrityTests(DataPathFixture fixture) : IClassFixture<DataPathFixture>
{
    /// <summary>Records a closed session of <paramref name="requests"/> requests by <paramref name="subject"/>; returns its id.</summary>
    private async Task<Guid> RecordedSessionAsync(string subject, int requests = 4)
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: subject));
        for (var i = 0; i < requests; i++)
        {
            (await agent.GetAsync($"/billing/echo?step={i}")).EnsureSuccessStatusCode();
            await fixture.FlushRecordingAsync(); // Each event in a chunk of its own: the tampering below is then the same each run.
        }

        fixture.Hoop.Services.GetRequiredService<SessionTracker>().EndIdle(DateTimeOffset.MaxValue);
        await fixture.FlushRecordingAsync();
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        return await db.Sessions.Where(s => s.Subject == subject).Select(s => s.Id).SingleAsync();
    }

    /// <summary>The chunks whose search documents hold <paramref name="word"/>, straight from the index.</summary>
    private static async Task<List<long>> IndexedChunksAsync(HoopDbContext db, string word) =>
        await db.Database.SqlQueryRaw<long>("SELECT rowid AS Value FROM SessionChunkSearch WHERE SessionChunkSearch MATCH {0}", word).ToListAsync();

    private async Task<JsonElement> VerifyAsync(Guid session)
    {
        using var auditor = fixture.Hoop.CreateAdminClient();
        var response = await auditor.PostAsync($"/api/v1/sessions/{session}/verify", null);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static SessionEvent Edited(SessionEvent e, int sequence)
    {
        if (e.Sequence == sequence)
        {
            e.Content = e.Content.Replace("step=2", "step=9", StringComparison.Ordinal);
        }

        return e;
    }

    [Fact]
    public async Task AnUntouchedSession_IsIntactAndSealed()
    {
        var id = await RecordedSessionAsync("intact-agent");

        var report = await VerifyAsync(id);

        Assert.True(report.GetProperty("intact").GetBoolean());
        Assert.Equal(4, report.GetProperty("events").GetInt32());
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var session = await db.Sessions.SingleAsync(s => s.Id == id);
        Assert.NotNull(session.Signature);
        Assert.Equal(4, session.EventCount);
    }

    [Theory]
    [InlineData("edit")]
    [InlineData("delete")]
    [InlineData("reorder")]
    [InlineData("recompute")]
    [InlineData("delete-last")]
    [InlineData("strip-seal")]
    [InlineData("change-agent")]
    public async Task TamperingInTheStore_IsFound_AndNamed(string how)
    {
        var id = await RecordedSessionAsync($"tampered-{how}");
        await using (var db = await fixture.Contexts.CreateDbContextAsync())
        {
            var session = id.ToString().ToUpperInvariant();
            switch (how)
            {
                case "edit":
                    await Recorded.RewriteAsync(db, id, events => [.. events.Select(e => Edited(e, 3))]);
                    break;
                case "delete":
                    await Recorded.RewriteAsync(db, id, events => [.. events.Where(e => e.Sequence != 2)]);
                    break;
                case "reorder":
                    // The contents of events 2 and 3 swapped, hashes left where they were.
                    await Recorded.RewriteAsync(db, id, events =>
                    {
                        (events[1].Content, events[2].Content) = (events[2].Content, events[1].Content);
                        return events;
                    });
                    break;
                case "recompute":
                    // Whoever edits event 3 can recompute the SHA-256 links, but not the MAC: that needs the master key.
                    await Recorded.RewriteAsync(db, id, events => [.. events.Select(e => Edited(e, 3))], recompute: true);
                    break;
                case "strip-seal":
                    // The last event removed and the seal with it, to pass the session off as never sealed.
                    await Recorded.RewriteAsync(db, id, events => [.. events.Where(e => e.Sequence != 4)]);
                    await db.Database.ExecuteSqlRawAsync("UPDATE Sessions SET Signature = NULL, FinalHash = NULL WHERE Id = {0}", session);
                    break;
                case "change-agent":
                    await db.Database.ExecuteSqlRawAsync("UPDATE Sessions SET Subject = 'someone-else' WHERE Id = {0}", session);
                    break;
                default:
                    await Recorded.RewriteAsync(db, id, events => [.. events.Where(e => e.Sequence != 4)]);
                    break;
            }
        }

        var report = await VerifyAsync(id);

        Assert.False(report.GetProperty("intact").GetBoolean());
        var problem = report.GetProperty("problem").GetString();
        Assert.Contains(how switch
        {
            "edit" => "event 3 does not match its hash",
            "delete" => "event 3 does not match its hash",
            "reorder" => "event 2 does not match its hash",
            "recompute" => "event 3 has a hash that Hoop's key did not sign",
            "strip-seal" => "closed but carries no seal",
            "change-agent" => "seal does not verify",
            _ => "sealed with a different last event",
        }, problem);
    }

    [Fact]
    public async Task AChunkOfSeveralEvents_EditedAndRecomputed_IsFoundAtTheChunksLastEvent()
    {
        using (var agent = fixture.Agent(fixture.Issuer.Token(subject: "chunked-agent")))
        {
            // Sent together, so written in one batch and stored in one chunk.
            await Task.WhenAll(Enumerable.Range(0, 6).Select(async i => (await agent.GetAsync($"/billing/echo?step={i}")).EnsureSuccessStatusCode()));
        }

        fixture.Hoop.Services.GetRequiredService<SessionTracker>().EndIdle(DateTimeOffset.MaxValue);
        await fixture.FlushRecordingAsync();
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var id = await db.Sessions.Where(s => s.Subject == "chunked-agent").Select(s => s.Id).SingleAsync();
        var chunks = await db.SessionChunks.AsNoTracking().Where(c => c.SessionId == id).OrderBy(c => c.Id).ToListAsync();
        Assert.Contains(chunks, c => c.Count > 1);
        Assert.Equal(6, chunks.Sum(c => c.Count));
        Assert.True((await VerifyAsync(id)).GetProperty("intact").GetBoolean());

        // Editing the first event of a chunk of several and recomputing every link after it: only the chunk's MAC gives it away.
        var edited = chunks.First(c => c.Count > 1);
        await Recorded.RewriteAsync(db, id, events =>
        {
            events.Single(e => e.Sequence == edited.FirstSequence).Content += " ";
            return events;
        }, recompute: true);

        var report = await VerifyAsync(id);
        Assert.False(report.GetProperty("intact").GetBoolean());
        Assert.Contains($"event {edited.LastSequence} has a hash that Hoop's key did not sign", report.GetProperty("problem").GetString());
    }

    [Fact]
    public async Task ASessionStoredAsEventRows_ByAnEarlierVersion_StillReplaysVerifiesAndExports()
    {
        // As Hoop wrote sessions before chunks: one row per event, chain link v1, a MAC per event, sealed.
        var seal = fixture.Hoop.Services.GetRequiredService<RecordSeal>();
        var session = new Session
        {
            ConnectionName = "billing",
            Protocol = ConnectionKind.Http,
            Subject = "row-era-agent",
            StartedAt = DateTime.UtcNow.AddDays(-1),
            EndedAt = DateTime.UtcNow.AddDays(-1).AddMinutes(1),
            Status = SessionStatus.Closed,
            EventCount = 3,
        };
        var previous = RecordChain.Genesis(session.Id);
        var events = new List<SessionEvent>();
        for (var i = 1; i <= 3; i++)
        {
            var e = new SessionEvent
            {
                SessionId = session.Id,
                Sequence = i,
                At = session.StartedAt.AddSeconds(i),
                Kind = "http",
                Summary = $"GET /billing/echo?row={i} 200",
                Content = $"{{\"request\":{{\"method\":\"GET\",\"path\":\"/billing/echo\",\"query\":\"?row={i}\"}},\"response\":{{\"status\":200}}}}",
            };
            previous = RecordChain.Link(previous, e);
            (e.Hash, e.Mac) = (RecordChain.Hex(previous), seal.Mac(previous));
            events.Add(e);
        }

        session.FinalHash = RecordChain.Hex(previous);
        session.Signature = await seal.SignAsync(RecordChain.Manifest(session.Id, session.Subject, session.ConnectionName, session.StartedAt, 3, session.FinalHash),
            CancellationToken.None);
        await using (var db = await fixture.Contexts.CreateDbContextAsync())
        {
            db.Sessions.Add(session);
            db.SessionEvents.AddRange(events);
            await db.SaveChangesAsync();
        }

        using var auditor = fixture.Hoop.CreateAdminClient();
        var replayed = await auditor.GetFromJsonAsync<JsonElement>($"/api/v1/sessions/{session.Id}");
        var report = await VerifyAsync(session.Id);
        var export = await auditor.GetStringAsync($"/api/v1/sessions/{session.Id}/export");
        using var folder = new TempFolder();
        await File.WriteAllTextAsync(folder["rows.jsonl"], export);
        await File.WriteAllTextAsync(folder["hoop.pem"], await auditor.GetStringAsync("/api/v1/recording/public-key"));
        var output = new StringWriter();
        var code = await HoopHost.RunAsync(["verify-export", folder["rows.jsonl"], folder["hoop.pem"]], output, output);

        Assert.Equal([1, 2, 3], replayed.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("sequence").GetInt32()));
        Assert.True(report.GetProperty("intact").GetBoolean(), report.GetProperty("problem").GetString());
        Assert.Equal(3, report.GetProperty("events").GetInt32());
        Assert.DoesNotContain("\"chain\"", export); // Event lines of rows read exactly as earlier versions wrote them.
        Assert.True(code == 0, output.ToString());
        Assert.Contains("intact: 3 events, sealed and signed", output.ToString());
    }

    [Fact]
    public async Task Export_RoundTripsThroughTheOfflineVerifier_AndATamperedExportFails()
    {
        var id = await RecordedSessionAsync("exported-agent", requests: 3);
        using var auditor = fixture.Hoop.CreateAdminClient();
        var export = await auditor.GetStringAsync($"/api/v1/sessions/{id}/export");
        var key = await auditor.GetStringAsync("/api/v1/recording/public-key");
        var csv = await auditor.GetStringAsync($"/api/v1/sessions/{id}/export?format=csv");
        using var folder = new TempFolder();
        await File.WriteAllTextAsync(folder["session.jsonl"], export);
        await File.WriteAllTextAsync(folder["hoop.pem"], key);
        await File.WriteAllTextAsync(folder["tampered.jsonl"], export.Replace("step=1", "step=7", StringComparison.Ordinal));
        await File.WriteAllTextAsync(folder["other-key.pem"], System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256).ExportSubjectPublicKeyInfoPem());

        // The command an auditor runs: hoop verify-export <file> <key>.
        async Task<(int Code, string Output)> RunAsync(string file, string pem)
        {
            var output = new StringWriter();
            var code = await HoopHost.RunAsync(["verify-export", folder[file], folder[pem]], output, output);
            return (code, output.ToString());
        }

        // A filtered set: every session the filter finds, each checked on its own.
        await RecordedSessionAsync("exported-agent-2", requests: 2);
        await File.WriteAllTextAsync(folder["set.jsonl"], await auditor.GetStringAsync("/api/v1/sessions/export?search=exported-agent"));
        var set = await RunAsync("set.jsonl", "hoop.pem");
        Assert.True(set.Code == 0, set.Output);
        Assert.Contains("intact: 5 events", set.Output);

        // The set ends with Hoop's signed list of its sessions: one taken out, or the list itself dropped, is found.
        var setLines = (await File.ReadAllLinesAsync(folder["set.jsonl"])).Where(l => l.Length > 0).ToList();
        Assert.Contains("\"type\":\"set\"", setLines[^1]);
        var secondStart = setLines.FindIndex(1, l => l.Contains("\"type\":\"session\"", StringComparison.Ordinal));
        await File.WriteAllLinesAsync(folder["set-without-one.jsonl"], setLines.Take(secondStart).Append(setLines[^1]));
        await File.WriteAllLinesAsync(folder["set-without-list.jsonl"], setLines.SkipLast(1));
        var withoutOne = await RunAsync("set-without-one.jsonl", "hoop.pem");
        Assert.Equal(1, withoutOne.Code);
        Assert.Contains("not the ones Hoop signed", withoutOne.Output);
        Assert.Equal(1, (await RunAsync("set-without-list.jsonl", "hoop.pem")).Code);

        // Every line must be as Hoop wrote it: a second, differently cased "content" or an "at" that disagrees with
        // "atTicks" would let a reader see other than what the chain vouches for.
        var lines = export.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var first = lines[1];
        await File.WriteAllLinesAsync(folder["cased.jsonl"], [lines[0], first.Replace("\"content\":", "\"Content\":\"shown instead\",\"content\":", StringComparison.Ordinal), .. lines[2..]]);
        var at = System.Text.RegularExpressions.Regex.Match(first, "\"at\":\"([^\"]+)\"").Groups[1].Value;
        await File.WriteAllLinesAsync(folder["at.jsonl"], [lines[0], first.Replace(at, "2001-01-01T00:00:00Z", StringComparison.Ordinal), .. lines[2..]]);
        var cased = await RunAsync("cased.jsonl", "hoop.pem");
        Assert.Equal(1, cased.Code);
        Assert.Contains("line 2 is not as Hoop wrote it", cased.Output);
        Assert.Equal(1, (await RunAsync("at.jsonl", "hoop.pem")).Code);

        // One session's export ends with the signed list too: a set cut down to one session with the list dropped
        // is not passed off as a whole export, and a session line's event count must agree with the events.
        await File.WriteAllLinesAsync(folder["single-without-list.jsonl"], lines[..^1]);
        Assert.Equal(1, (await RunAsync("single-without-list.jsonl", "hoop.pem")).Code);
        await File.WriteAllLinesAsync(folder["count.jsonl"], [lines[0].Replace("\"eventCount\":3", "\"eventCount\":30", StringComparison.Ordinal), .. lines[1..]]);
        var count = await RunAsync("count.jsonl", "hoop.pem");
        Assert.Equal(1, count.Code);
        Assert.Contains("says 30 events", count.Output);
        await File.WriteAllTextAsync(folder["typed.jsonl"], "{\"type\":1}\n");
        Assert.Equal(1, (await RunAsync("typed.jsonl", "hoop.pem")).Code); // Nonsense is refused with a message, never a crash.

        var good = await RunAsync("session.jsonl", "hoop.pem");
        var tampered = await RunAsync("tampered.jsonl", "hoop.pem");
        var wrongKey = await RunAsync("session.jsonl", "other-key.pem");

        Assert.Equal(5, export.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length); // The session, 3 events, the signed list.
        Assert.StartsWith("session,sequence,at,kind,summary", csv);
        Assert.True(good.Code == 0, good.Output);
        Assert.Contains("intact: 3 events, sealed and signed", good.Output);
        Assert.Equal(1, tampered.Code);
        Assert.Contains("event 2 does not match its hash", tampered.Output);
        Assert.Equal(1, wrongKey.Code);
        Assert.Contains("does not verify", wrongKey.Output);
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        Assert.True(await db.AuditEvents.AnyAsync(a => a.Action == "session.export" && a.Target == id.ToString()));
    }

    [Fact]
    public async Task Retention_PurgesExpiredSessions_ButNotOnesUnderLegalHold_AndAuditsIt()
    {
        var expired = await RecordedSessionAsync("retention-expired", requests: 2);
        var held = await RecordedSessionAsync("retention-held", requests: 2);
        var recent = await RecordedSessionAsync("retention-recent", requests: 1);
        using var admin = fixture.Hoop.CreateAdminClient();
        (await admin.PutAsJsonAsync($"/api/v1/sessions/{held}/legal-hold", new { hold = true })).EnsureSuccessStatusCode();
        await fixture.AddConnectionAsync("short-lived", fixture.Backend.Address); // a connection without retention keeps everything
        await using (var db = await fixture.Contexts.CreateDbContextAsync())
        {
            await db.Connections.Where(c => c.Name == "billing").ExecuteUpdateAsync(u => u.SetProperty(c => c.RetentionDays, 7));
            await db.Sessions.Where(s => s.Id == expired || s.Id == held).ExecuteUpdateAsync(u => u.SetProperty(s => s.EndedAt, DateTime.UtcNow.AddDays(-30)));
        }

        await fixture.Hoop.Services.GetRequiredService<SearchIndex>().IndexAsync(CancellationToken.None);
        List<long> expiredChunks;
        await using (var db = await fixture.Contexts.CreateDbContextAsync())
        {
            expiredChunks = await db.SessionChunks.Where(c => c.SessionId == expired).Select(c => c.Id).ToListAsync();
            Assert.Contains(await IndexedChunksAsync(db, "step"), expiredChunks.Contains);
        }

        var purged = await fixture.Hoop.Services.GetRequiredService<RetentionJob>().PurgeAsync(CancellationToken.None);

        await using var check = await fixture.Contexts.CreateDbContextAsync();
        Assert.Equal(1, purged);
        Assert.False(await check.Sessions.AnyAsync(s => s.Id == expired));
        Assert.Empty(await Recorded.EventsAsync(check, expired));
        Assert.False(await check.SessionChunks.AnyAsync(c => c.SessionId == expired));
        Assert.DoesNotContain(await IndexedChunksAsync(check, "step"), expiredChunks.Contains); // its words gone from the index too
        Assert.True(await check.Sessions.AnyAsync(s => s.Id == held));
        Assert.True(await check.Sessions.AnyAsync(s => s.Id == recent));
        var audit = await check.AuditEvents.SingleAsync(a => a.Action == "session.purged");
        Assert.Contains(expired.ToString(), audit.Details);
        Assert.Contains("\"events\":2", audit.Details);
        Assert.True((await (await admin.PostAsync("/api/v1/audit/verify", null)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("intact").GetBoolean());
        await check.Connections.Where(c => c.Name == "billing").ExecuteUpdateAsync(u => u.SetProperty(c => c.RetentionDays, (int?)null));
    }

    [Fact]
    public async Task AuditExport_VerifiesOffline_AndATamperedOneFails()
    {
        await fixture.Hoop.Services.GetRequiredService<AuditLog>().WriteAsync("tester", "test.exported", "x", AuditOutcome.Success, new { note = "kept" });
        using var auditor = fixture.Hoop.CreateAdminClient();
        var export = await auditor.GetStringAsync("/api/v1/audit/export");
        var csv = await auditor.GetStringAsync("/api/v1/audit/export?format=csv");
        using var folder = new TempFolder();
        await File.WriteAllTextAsync(folder["audit.jsonl"], export);
        await File.WriteAllTextAsync(folder["tampered.jsonl"], export.Replace("kept", "gone", StringComparison.Ordinal));
        await File.WriteAllTextAsync(folder["cut.jsonl"], string.Join('\n', export.Split('\n', StringSplitOptions.RemoveEmptyEntries).SkipLast(1)));
        await File.WriteAllTextAsync(folder["hoop.pem"], await auditor.GetStringAsync("/api/v1/recording/public-key"));
        async Task<int> RunAsync(string file) => await HoopHost.RunAsync(["verify-export", folder[file], folder["hoop.pem"]], TextWriter.Null, TextWriter.Null);

        Assert.Contains("test.exported", export);
        Assert.StartsWith("id,at,actor,action", csv);
        Assert.Equal(0, await RunAsync("audit.jsonl"));
        Assert.Equal(1, await RunAsync("tampered.jsonl"));
        Assert.Equal(1, await RunAsync("cut.jsonl")); // The newest event left out: the signature covers the range.
    }

    [Fact]
    public async Task FullTextSearch_FindsTheSessionAndEvent_AndTakesWordsLiterally()
    {
        using (var agent = fixture.Agent(fixture.Issuer.Token(subject: "searched-agent")))
        {
            (await agent.GetAsync("/billing/echo?note=zebracorn42")).EnsureSuccessStatusCode();
        }

        await fixture.FlushRecordingAsync();
        await fixture.Hoop.Services.GetRequiredService<SearchIndex>().IndexAsync(CancellationToken.None);
        using var auditor = fixture.Hoop.CreateAdminClient();

        var found = await auditor.GetFromJsonAsync<JsonElement>("/api/v1/search?q=zebracorn42");
        var odd = await auditor.GetAsync("/api/v1/search?q=" + Uri.EscapeDataString("zebracorn42 OR \" NEAR("));

        var hit = Assert.Single(found.GetProperty("events").EnumerateArray());
        Assert.Contains("[zebracorn42]", hit.GetProperty("snippet").GetString());
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var session = await db.Sessions.Where(s => s.Subject == "searched-agent").Select(s => s.Id).SingleAsync();
        Assert.Equal(session, Assert.Single(found.GetProperty("sessions").EnumerateArray()).GetGuid());
        Assert.Equal(System.Net.HttpStatusCode.OK, odd.StatusCode); // FTS5 syntax in a query is searched for as words, not run.
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, (await auditor.GetAsync("/api/v1/search?q=%20")).StatusCode);
    }

    [Fact]
    public async Task FullTextSearch_InAChunkOfSeveralEvents_NamesTheEventThatHoldsTheWords()
    {
        using (var agent = fixture.Agent(fixture.Issuer.Token(subject: "chunk-searched-agent")))
        {
            // Sent together, so written in one batch and stored in one chunk.
            await Task.WhenAll(Enumerable.Range(0, 5).Select(async i =>
                (await agent.GetAsync($"/billing/echo?note={(i == 3 ? "quagga77" : "plain")}-{i}")).EnsureSuccessStatusCode()));
        }

        await fixture.FlushRecordingAsync();
        await fixture.Hoop.Services.GetRequiredService<SearchIndex>().IndexAsync(CancellationToken.None);
        using var auditor = fixture.Hoop.CreateAdminClient();

        var found = await auditor.GetFromJsonAsync<JsonElement>("/api/v1/search?q=quagga77");

        var hit = Assert.Single(found.GetProperty("events").EnumerateArray());
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var session = await db.Sessions.Where(s => s.Subject == "chunk-searched-agent").Select(s => s.Id).SingleAsync();
        var holder = (await Recorded.EventsAsync(db, session)).Single(e => e.Content.Contains("quagga77", StringComparison.Ordinal));
        Assert.Equal(session, hit.GetProperty("sessionId").GetGuid());
        Assert.Equal(holder.Sequence, hit.GetProperty("sequence").GetInt32());
        Assert.Contains("[quagga77]", hit.GetProperty("snippet").GetString());
    }

    [Fact]
    public async Task SessionsList_FiltersByAgentGroupProtocolOutcomeTimeAndContent()
    {
        var id = await RecordedSessionAsync("filtered-agent", requests: 2);
        using var auditor = fixture.Hoop.CreateAdminClient();
        async Task<List<Guid>> FindAsync(string query) =>
            (await auditor.GetFromJsonAsync<JsonElement>($"/api/v1/sessions?{query}")).EnumerateArray().Select(s => s.GetProperty("id").GetGuid()).ToList();

        Assert.Contains(id, await FindAsync("agent=filtered-agent"));
        Assert.Contains(id, await FindAsync($"group={DataPathFixture.Group}&protocol=Http&outcome=allowed"));
        Assert.Contains(id, await FindAsync("contains=step%3D1&connection=billing"));
        Assert.Contains(id, await FindAsync($"from={DateTime.UtcNow.AddHours(-1):O}"));
        Assert.DoesNotContain(id, await FindAsync("agent=filtered-agent&protocol=Postgres"));
        Assert.DoesNotContain(id, await FindAsync("agent=filtered-agent&outcome=denied"));
        Assert.DoesNotContain(id, await FindAsync("agent=filtered-agent&contains=never-recorded-text"));
        Assert.DoesNotContain(id, await FindAsync($"agent=filtered-agent&to={DateTime.UtcNow.AddDays(-1):O}"));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, (await auditor.GetAsync("/api/v1/sessions?outcome=sideways")).StatusCode);
    }
}

/// <summary>The audit log's chain, on a host of its own: these tests break it on purpose.</summary>
public sealed class AuditChainTests(DataPathFixture fixture) : IClassFixture<DataPathFixture>
{
    private async Task SqlAsync(string sql)
    {
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        await db.Database.ExecuteSqlRawAsync(sql);
    }

    [Fact]
    public async Task AuditLog_IsChained_AndAnEditOrTheNewestEventsRemoved_AreFound()
    {
        var chain = fixture.Hoop.Services.GetRequiredService<AuditChain>();
        using var admin = fixture.Hoop.CreateAdminClient();
        async Task<JsonElement> VerifyAuditAsync() =>
            await (await admin.PostAsync("/api/v1/audit/verify", null)).Content.ReadFromJsonAsync<JsonElement>();

        await fixture.Hoop.Services.GetRequiredService<AuditLog>().WriteAsync("tester", "test.marker", "one", AuditOutcome.Success);
        await chain.ChainAsync(CancellationToken.None);
        Assert.True((await VerifyAuditAsync()).GetProperty("intact").GetBoolean());

        await SqlAsync("UPDATE AuditEvents SET Target = 'two' WHERE Action = 'test.marker'");
        var edited = await VerifyAuditAsync();
        Assert.False(edited.GetProperty("intact").GetBoolean());

        Assert.Contains("does not match its hash", edited.GetProperty("problem").GetString());
        await SqlAsync("UPDATE AuditEvents SET Target = 'one' WHERE Action = 'test.marker'");
        Assert.True((await VerifyAuditAsync()).GetProperty("intact").GetBoolean());

        // The newest chained event removed (an event younger than a second may not be chained yet).
        await chain.ChainAsync(CancellationToken.None);
        await SqlAsync("DELETE FROM AuditEvents WHERE Id = (SELECT max(Id) FROM AuditEvents)");
        var removed = await VerifyAuditAsync();
        Assert.False(removed.GetProperty("intact").GetBoolean());
        Assert.Contains("does not match its hash", removed.GetProperty("problem").GetString()); // The next event chained onto the removed one.

        // Removing the record of where the chain ends does not make Hoop hash the log again from the start.
        await SqlAsync("DELETE FROM Settings WHERE Key = 'audit.chain-head'");
        var headless = await VerifyAuditAsync();
        Assert.False(headless.GetProperty("intact").GetBoolean());
        Assert.Contains("was removed", headless.GetProperty("problem").GetString());
    }
}
