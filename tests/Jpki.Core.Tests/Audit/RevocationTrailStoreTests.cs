using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Jpki.Core.Tests.Store;

namespace Jpki.Core.Tests.Audit;

/// <summary>
/// The auditors' read side (RevocationTrailStore, AccessReportStore) on each engine: a store
/// filled through the real revoker and audit chain, read back as trail, search pages, daily
/// statistics, disclosure and operator activity.
/// </summary>
public abstract class RevocationTrailStoreTests(IStoreFixture fixture)
{
    // 2026-11-22 15:30 UTC = 2026-11-23 00:30 JST: the JST day differs from the UTC one.
    private static readonly DateTimeOffset Start = new(2026, 11, 22, 15, 30, 0, TimeSpan.Zero);

    [Fact]
    public void The_trail_joins_issuance_event_request_compromise_crl_and_ocsp()
    {
        using var store = NewStore(nameof(The_trail_joins_issuance_event_request_compromise_crl_and_ocsp));
        store.Issue("0b01", "352012", "operator-a");
        store.Issue("0b02", "352039", "operator-b");
        store.Issue("0b03", "352012", "operator-a");
        store.Execute(
            """
            INSERT INTO jukinet_events (sequence, type, cause, resident_key, hmac_key_id, effective_date, received_us, applied_us, outcome, revoked_count)
            VALUES (7, 'death', 'death', @key, 'hmac-1', '2026-11-20', @received, @applied, 'revoked', 1)
            """,
            new { key = new byte[] { 0xab, 0xcd }, received = Instant.ToMicros(Start), applied = Instant.ToMicros(Start) + 2_500 });
        store.Revoke("0b01", RevocationCause.Death, "jukinet:7", "system/jukinet-subscriber");
        store.Clock.Advance(TimeSpan.FromMinutes(1));
        var requestId = store.Insert("INSERT INTO revocation_requests (serial, cause, requested_by, statement, time_us) VALUES ('0b02', 'recordError', 'officer1', 'wrong', @now) RETURNING id", new { now = store.NowUs });
        store.Revoke("0b02", RevocationCause.RecordError, $"request:{requestId}", "officer1");
        store.Clock.Advance(TimeSpan.FromMinutes(1));
        var compromiseId = store.Insert(
            "INSERT INTO issuer_compromise_requests (issuer_key_id, requested_by, statement, requested_us, expires_us, approved_by, approved_us) VALUES ('key-1', 'officer1', 'leak', @now, @now, 'officer2', @now) RETURNING id",
            new { now = store.NowUs });
        store.Revoke("0b03", RevocationCause.IssuerKeyCompromise, $"issuer-compromise:{compromiseId}", "officer2");
        store.Execute(
            """
            INSERT INTO crls (issuer_key_id, scope, number, kind, scheduled, this_update_us, next_update_us, max_change_seq, entry_count, sha256, size_bytes, published_us)
            VALUES ('key-1', 'full', 42, 'complete', 0, 100, 200, 1, 1, 'beef', 10, 150)
            """);
        store.Execute("INSERT INTO crl_first_listings (serial, issuer_key_id, scope, number, this_update_us) VALUES ('0b01', 'key-1', 'full', 42, 100)");
        store.Execute("INSERT INTO ocsp_first_revoked (serial, produced_us, installed_us) VALUES ('0b01', 300, 301)");

        using var db = store.Database.OpenConnection();
        var trail = RevocationTrailStore.Trail(db, "0b01")!;
        Assert.Equal(("352012", 5L, "death", "jukinet:7"), (trail.Certificate.MunicipalityCode, trail.Certificate.Reason, trail.Certificate.RevocationCause, trail.Certificate.RevocationSource));
        Assert.Equal(("operator-a", "WIN00001A"), (trail.Issuance!.Actor, trail.Issuance.Detail("windowId")));
        var step = Assert.Single(trail.Revocations);
        Assert.Equal("system/jukinet-subscriber", step.Record.Actor);
        Assert.Equal((7L, "death", Instant.ToMicros(Start) + 2_500), (step.Event!.Sequence, step.Event.Type, step.Event.AppliedUs));
        Assert.Equal([0xab, 0xcd], step.Event.ResidentKey);
        Assert.Equal((42L, 100L, "complete", "beef", 150L), (trail.FirstCrl!.Number, trail.FirstCrl.ThisUpdateUs, trail.FirstCrl.Kind, trail.FirstCrl.Sha256, trail.FirstCrl.PublishedUs));
        Assert.Equal(300, trail.FirstOcspRevoked!.ProducedUs);

        var request = Assert.Single(RevocationTrailStore.Trail(db, "0b02")!.Revocations).Request!;
        Assert.Equal((requestId, "officer1", "wrong"), (request.Id, request.RequestedBy, request.Statement));
        var compromise = Assert.Single(RevocationTrailStore.Trail(db, "0b03")!.Revocations).Compromise!;
        Assert.Equal(("officer1", "officer2"), (compromise.RequestedBy, compromise.ApprovedBy));
        Assert.Null(RevocationTrailStore.Trail(db, "0bff"));
    }

    [Fact]
    public void Search_filters_and_pages_by_keyset_and_statistics_count_by_jst_day()
    {
        using var store = NewStore(nameof(Search_filters_and_pages_by_keyset_and_statistics_count_by_jst_day));
        for (var i = 0; i < 5; i++)
        {
            store.Issue($"0c0{i}", i < 3 ? "352012" : "352039", "operator-a");
        }

        // Three revoked at the same instant (the keyset must order by serial within it), one a day later, one never.
        store.Revoke("0c02", RevocationCause.RecordError, "request:1", "officer1");
        store.Revoke("0c00", RevocationCause.RecordError, "request:2", "officer1");
        store.Revoke("0c03", RevocationCause.MoveOut, "jukinet:9", "system/jukinet-subscriber");
        store.Clock.Advance(TimeSpan.FromDays(1));
        store.Revoke("0c01", RevocationCause.MoveOut, "jukinet:10", "system/jukinet-subscriber");

        using var db = store.Database.OpenConnection();
        var all = RevocationTrailStore.Search(db, new RevocationFilter()).Select(r => r.Serial).ToList();
        Assert.Equal(["0c00", "0c02", "0c03", "0c01"], all);
        var paged = new List<string>();
        (long, string)? after = null;
        while (true)
        {
            var page = RevocationTrailStore.Search(db, new RevocationFilter { Limit = 1, After = after }).ToList();
            if (page.Count == 0)
            {
                break;
            }

            paged.Add(page[0].Serial);
            after = (page[0].RevokedAtUs, page[0].Serial);
        }

        Assert.Equal(all, paged);
        Assert.Equal(["0c00", "0c02"], RevocationTrailStore.Search(db, new RevocationFilter { Cause = "recordError" }).Select(r => r.Serial));
        Assert.Equal(["0c03"], RevocationTrailStore.Search(db, new RevocationFilter { MunicipalityCode = "352039" }).Select(r => r.Serial));
        var firstJstDay = new DateOnly(2026, 11, 23);
        Assert.Equal(["0c00", "0c02", "0c03"], RevocationTrailStore.Search(db, new RevocationFilter { From = firstJstDay, To = firstJstDay }).Select(r => r.Serial));
        Assert.Equal(["0c01"], RevocationTrailStore.Search(db, new RevocationFilter { From = firstJstDay.AddDays(1) }).Select(r => r.Serial));
        Assert.Empty(RevocationTrailStore.Search(db, new RevocationFilter { To = new DateOnly(2026, 11, 22) }));

        var perDay = RevocationTrailStore.RevocationsPerDay(db, firstJstDay.AddDays(-1), firstJstDay.AddDays(1));
        Assert.Equal(
            [new DailyCauseCount(firstJstDay, "moveOut", 1), new DailyCauseCount(firstJstDay, "recordError", 2), new DailyCauseCount(firstJstDay.AddDays(1), "moveOut", 1)],
            perDay);
    }

    [Fact]
    public void Feed_lag_is_nearest_rank_percentiles_per_jst_day_of_arrival()
    {
        using var store = NewStore(nameof(Feed_lag_is_nearest_rank_percentiles_per_jst_day_of_arrival));
        var received = Instant.ToMicros(Start);
        for (var i = 1; i <= 10; i++)
        {
            store.Execute(
                """
                INSERT INTO jukinet_events (sequence, type, cause, resident_key, hmac_key_id, effective_date, received_us, applied_us, outcome, revoked_count)
                VALUES (@i, 'moveOut', 'moveOut', @key, 'hmac-1', '2026-11-20', @received, @applied, 'no-effect', 0)
                """,
                new { i, key = new byte[] { 1 }, received, applied = received + (i * 1000) });
        }

        using var db = store.Database.OpenConnection();
        var day = Assert.Single(RevocationTrailStore.FeedLag(db, new DateOnly(2026, 11, 20), new DateOnly(2026, 11, 25)));
        Assert.Equal(new DailyFeedLag(new DateOnly(2026, 11, 23), 10, 5, 9, 10, 10), day);
        Assert.Empty(RevocationTrailStore.FeedLag(db, new DateOnly(2026, 11, 22), new DateOnly(2026, 11, 22)));
    }

    [Fact]
    public void Disclosure_and_activity_read_by_keyed_hash_and_by_account()
    {
        using var store = NewStore(nameof(Disclosure_and_activity_read_by_keyed_hash_and_by_account));
        byte[] alice = [1, 1, 1];
        byte[] bob = [2, 2, 2];
        store.Read("operator-a", "check", alice);
        store.Clock.Advance(TimeSpan.FromSeconds(1));
        store.Read("operator-b", "verify", alice);
        store.Read("operator-a", "other", bob);
        store.Issue("0d01", "352012", "operator-a");
        store.Revoke("0d01", RevocationCause.CardLost, "request:5", "operator-a");

        using var db = store.Database.OpenConnection();
        Assert.Equal([("operator-a", "check"), ("operator-b", "verify")], AccessReportStore.ReadsOf(db, alice, "hmac-1").Select(r => (r.Account, r.Purpose)));
        Assert.Empty(AccessReportStore.ReadsOf(db, alice, "hmac-2"));
        var from = Instant.ToMicros(Start);
        var to = from + 86_400_000_000;
        Assert.Equal(["check", "other"], AccessReportStore.ReadsBy(db, "operator-a", from, to).Select(r => r.Purpose));
        Assert.Empty(AccessReportStore.ReadsBy(db, "operator-a", to, to + 1));
        Assert.Equal(["certificate.issued", "certificate.revoked"], AccessReportStore.ActsBy(db, "operator-a", from, to).Select(a => a.Action));
        Assert.Empty(AccessReportStore.ActsBy(db, "operator-b", from, to));
    }

    private TestStore NewStore(string name)
    {
        var clock = new ManualClock(Start);
        var database = new Database(fixture.CreateStore(name), clock);
        Migrator.ApplyPending(database);
        var log = new AuditLog(TestHsm.Instance.Checkpoint, new AuditOptions
        {
            CheckpointEveryRecords = 1000,
            CheckpointInterval = TimeSpan.FromDays(10),
            CheckpointFilePath = Path.Combine(fixture.ScratchDirectory, name + ".checkpoints"),
        });
        using (var tx = database.BeginWrite())
        {
            DatabaseTests.SeedIssuerKey(tx, "key-1");
            tx.Commit();
        }

        return new TestStore(database, clock, log);
    }

    private sealed record TestStore(Database Database, ManualClock Clock, AuditLog Log) : IDisposable
    {
        public long NowUs => Instant.NowMicros(Clock);

        public void Issue(string serial, string municipality, string actor)
        {
            using var tx = Database.BeginWrite();
            tx.Execute(
                """
                INSERT INTO certificates (serial, issuer_key_id, kind, municipality_code, resident_key, hmac_key_id, juki_sequence, not_before_us, not_after_us, der, status, created_us)
                VALUES (@serial, 'key-1', 'signing', @municipality, @key, 'hmac-1', 3, 0, @notAfter, @der, 'good', @now)
                """,
                new { serial, municipality, key = new byte[] { 9 }, notAfter = Instant.ToMicros(Start.AddYears(5)), der = new byte[] { 0x30, 0x00 }, now = NowUs });
            Log.Append(tx, new AuditRecord(actor, "certificate.issued", serial, new JsonObject { ["windowId"] = "WIN00001A", ["municipalityCode"] = municipality }));
            tx.Commit();
        }

        public void Revoke(string serial, RevocationCause cause, string source, string actor)
        {
            using var tx = Database.BeginWrite();
            var result = new CertificateRevoker(Log).Revoke(tx, new RevocationOrder { Serial = serial, Cause = cause, Source = source, Actor = actor });
            Assert.True(result.Changed, result.Outcome.ToString());
            tx.Commit();
        }

        public void Read(string account, string purpose, byte[] residentKey)
        {
            Execute(
                "INSERT INTO resident_reads (account, purpose, resident_key, hmac_key_id, time_us) VALUES (@account, @purpose, @residentKey, 'hmac-1', @now)",
                new { account, purpose, residentKey, now = NowUs });
        }

        public void Execute(string sql, object? parameters = null)
        {
            using var tx = Database.BeginWrite();
            tx.Execute(sql, parameters);
            tx.Commit();
        }

        public long Insert(string sql, object parameters)
        {
            using var tx = Database.BeginWrite();
            var id = tx.QuerySingle<long>(sql, parameters);
            tx.Commit();
            return id;
        }

        public void Dispose() => Database.Dispose();
    }
}

public sealed class SqliteRevocationTrailStoreTests(SqliteStoreFixture fixture) : RevocationTrailStoreTests(fixture), IClassFixture<SqliteStoreFixture>;

public sealed class PostgresRevocationTrailStoreTests(PostgresStoreFixture fixture) : RevocationTrailStoreTests(fixture), IClassFixture<PostgresStoreFixture>;
