using System.Security.Cryptography;
using System.Text;
using Dapper;
using Jpki.Core.Audit;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Jpki.Core.Tests.Store;
using Jpki.JukiNet;

namespace Jpki.Core.Tests.Revocation;

/// <summary>Feed pages applied to a real store of each engine, with the real audit chain.</summary>
public abstract class JukiNetFeedApplierTests(IStoreFixture fixture)
{
    private static readonly DateTimeOffset Start = new(2026, 11, 22, 1, 0, 0, TimeSpan.Zero);
    private static readonly byte[] HmacKey = Encoding.ASCII.GetBytes("test-resident-hmac-key-32-bytes!");
    private static readonly ResidentCode Hanako = ResidentCode.FromFirstTen("1234567890");
    private static readonly ResidentCode Taro = ResidentCode.FromFirstTen("2234567890");

    [Fact]
    public void A_move_out_revokes_the_signing_certificate_only_with_the_effective_date_and_records_the_event()
    {
        using var feed = NewFeed(nameof(A_move_out_revokes_the_signing_certificate_only_with_the_effective_date_and_records_the_event));
        feed.Certificate("0b01", "signing", Hanako, jukiSequence: 0);
        feed.Certificate("0b02", "authentication", Hanako, jukiSequence: 0);
        var result = feed.Apply(Event(1, Hanako, ChangeType.MoveOut, new DateOnly(2026, 11, 20)));
        Assert.Equal((1, 1, 1L), (result.Applied, result.Revocations, result.Cursor));
        Assert.Equal(("revoked", 3L, "2026-11-20", "jukinet:1"), feed.Revocation("0b01"));
        Assert.Equal("good", feed.Revocation("0b02").Status);
        var stored = feed.Event(1)!;
        Assert.Equal(("moveOut", "moveOut", "revoked", 1L), (stored.Type, stored.Cause, stored.Outcome, stored.RevokedCount));
        Assert.Equal(Key(Hanako), stored.ResidentKey);
        Assert.Equal(1L, feed.Position().Cursor);
        Assert.Equal(1, feed.AuditCount("jukinet.event-applied"));
        var verification = feed.VerifyAudit();
        Assert.True(verification.IsValid, verification.ToString());
    }

    [Fact]
    public void A_death_revokes_both_with_cessation_of_operation()
    {
        using var feed = NewFeed(nameof(A_death_revokes_both_with_cessation_of_operation));
        feed.Certificate("0b03", "signing", Hanako, jukiSequence: 0);
        feed.Certificate("0b04", "authentication", Hanako, jukiSequence: 0);
        feed.Certificate("0b05", "authentication", Taro, jukiSequence: 0);
        feed.Apply(Event(1, Hanako, ChangeType.Death, new DateOnly(2026, 11, 21)));
        Assert.Equal(5L, feed.Revocation("0b03").Reason);
        Assert.Equal(5L, feed.Revocation("0b04").Reason);
        Assert.Equal("good", feed.Revocation("0b05").Status);
    }

    [Fact]
    public void Duplicates_within_a_page_and_across_pages_take_effect_once()
    {
        using var feed = NewFeed(nameof(Duplicates_within_a_page_and_across_pages_take_effect_once));
        feed.Certificate("0b06", "signing", Hanako, jukiSequence: 0);
        var death = Event(1, Hanako, ChangeType.Death, new DateOnly(2026, 11, 21));
        var first = feed.Apply(death, death);
        Assert.Equal((1, 1), (first.Applied, first.Duplicates));
        feed.Clock.Advance(TimeSpan.FromMinutes(1));
        var again = feed.Apply(death);
        Assert.Equal((0, 1, 0), (again.Applied, again.Duplicates, again.Revocations));
        Assert.Equal(2, feed.StatusChanges("0b06"));
        Assert.Equal(1, feed.AuditCount("certificate.revoked"));
        Assert.Equal(1, feed.AuditCount("jukinet.event-applied"));
    }

    [Fact]
    public void A_gap_opens_for_skipped_sequences_and_late_events_fill_it_in_any_order()
    {
        using var feed = NewFeed(nameof(A_gap_opens_for_skipped_sequences_and_late_events_fill_it_in_any_order));
        feed.Certificate("0b07", "signing", Taro, jukiSequence: 0);
        var result = feed.Apply(Event(1, Hanako, ChangeType.Correction), Event(5, Hanako, ChangeType.Correction), Event(2, Hanako, ChangeType.Correction));
        Assert.Equal((3, 1, 5L), (result.Applied, result.GapsOpened, result.Cursor));
        Assert.Equal([(3L, 4L)], feed.OpenGaps());

        // The late event of a gap still applies (revocation is never undone: order does not matter).
        var late = feed.Apply(Event(4, Taro, ChangeType.NameChange));
        Assert.Equal((1, 1, 5L), (late.Applied, late.GapsFilled, late.Cursor));
        Assert.Equal([(3L, 3L)], feed.OpenGaps());
        Assert.Equal("revoked", feed.Revocation("0b07").Status);
        feed.Apply(Event(3, Hanako, ChangeType.Correction));
        Assert.Empty(feed.OpenGaps());
        Assert.Equal(1, feed.AuditCount("jukinet.gap-opened"));
        Assert.Equal(2, feed.AuditCount("jukinet.gap-filled"));
    }

    [Fact]
    public void A_malformed_entry_is_quarantined_without_the_resident_code_and_the_feed_goes_on()
    {
        using var feed = NewFeed(nameof(A_malformed_entry_is_quarantined_without_the_resident_code_and_the_feed_goes_on));
        var raw = $$"""{"sequence":2,"residentCode":"{{Hanako.Digits}}","type":"bogus","note":"also {{Taro.Digits}}"}""";
        var page = new ChangePage([Event(1, Taro, ChangeType.Correction), Event(3, Taro, ChangeType.Correction)], [new MalformedChange(2, raw, "type is unknown")], 3);
        var result = feed.Applier.Apply(feed.Database, page);
        Assert.Equal((2, 1, 0, 3L), (result.Applied, result.Quarantined, result.GapsOpened, result.Cursor));
        var quarantined = Assert.Single(feed.Quarantine());
        Assert.Equal((2L, "type is unknown"), (quarantined.Sequence, quarantined.Reason));
        Assert.Contains("hmac:" + Convert.ToHexStringLower(Key(Hanako)), quarantined.RedactedJson, StringComparison.Ordinal);
        Assert.Contains("hmac:" + Convert.ToHexStringLower(Key(Taro)), quarantined.RedactedJson, StringComparison.Ordinal);
        Assert.Contains("bogus", quarantined.RedactedJson, StringComparison.Ordinal);
        Assert.False(feed.StoreContains(Hanako.Digits), "a clear resident code reached the store");
        Assert.False(feed.StoreContains(Taro.Digits), "a clear resident code reached the store");

        // Delivered again: not quarantined twice.
        Assert.Equal(0, feed.Applier.Apply(feed.Database, page).Quarantined);
        Assert.Single(feed.Quarantine());

        // Without a sequence the cursor cannot pass an entry, so the feed repeats it: kept once.
        var unnumbered = new ChangePage([], [new MalformedChange(null, $"[\"{Hanako.Digits}\"]", "the entry is not an object")], 3);
        Assert.Equal(1, feed.Applier.Apply(feed.Database, unnumbered).Quarantined);
        Assert.Equal(0, feed.Applier.Apply(feed.Database, unnumbered).Quarantined);
        Assert.Equal(2, feed.Quarantine().Count);
        Assert.False(feed.StoreContains(Hanako.Digits), "a clear resident code reached the store");
    }

    [Fact]
    public void An_unknown_resident_is_recorded_with_no_effect_and_a_correction_keeps_everything()
    {
        using var feed = NewFeed(nameof(An_unknown_resident_is_recorded_with_no_effect_and_a_correction_keeps_everything));
        feed.Certificate("0b08", "signing", Hanako, jukiSequence: 0);
        feed.Apply(Event(1, Taro, ChangeType.Death), Event(2, Hanako, ChangeType.Correction));
        Assert.Equal("unknown-resident", feed.Event(1)!.Outcome);
        Assert.Equal("no-effect", feed.Event(2)!.Outcome);
        Assert.Equal("good", feed.Revocation("0b08").Status);
    }

    [Fact]
    public void An_event_older_than_the_record_a_certificate_was_issued_from_does_not_revoke_it()
    {
        using var feed = NewFeed(nameof(An_event_older_than_the_record_a_certificate_was_issued_from_does_not_revoke_it));
        feed.Certificate("0b09", "signing", Hanako, jukiSequence: 10);
        feed.Certificate("0b0a", "signing", Hanako, jukiSequence: 3);
        feed.Apply(Event(7, Hanako, ChangeType.AddressChange));
        Assert.Equal("good", feed.Revocation("0b09").Status);
        Assert.Equal("revoked", feed.Revocation("0b0a").Status);
    }

    [Fact]
    public void A_page_that_fails_halfway_leaves_nothing_and_its_redelivery_takes_effect_exactly_once()
    {
        using var feed = NewFeed(nameof(A_page_that_fails_halfway_leaves_nothing_and_its_redelivery_takes_effect_exactly_once));
        feed.Certificate("0b0b", "signing", Hanako, jukiSequence: 0);
        feed.Certificate("0b0c", "signing", Taro, jukiSequence: 0);
        var page = new ChangePage([Event(1, Hanako, ChangeType.Death), Event(2, Hanako, ChangeType.Correction), Event(3, Taro, ChangeType.Death)], [], 3);
        var auditBefore = feed.AuditCount("certificate.revoked");

        // The process "dies" in the middle of the writes: the first events' revocation, records
        // and audit rows are written in the transaction when the HSM fails signing the audit
        // checkpoint that falls due at the third event's revocation.
        var dying = new AuditLog(new SignerThatDies(TestHsm.Instance.Checkpoint, failingCall: 2), new AuditOptions
        {
            CheckpointEveryRecords = 3,
            CheckpointInterval = TimeSpan.FromDays(1),
            CheckpointFilePath = feed.CheckpointFile,
        });
        var crashing = new JukiNetFeedApplier(new CertificateRevoker(dying), dying, Key, "hmac-1");
        Assert.Throws<IOException>(() => crashing.Apply(feed.Database, page));
        Assert.Equal(("good", (long?)null, (string?)null, (string?)null), feed.Revocation("0b0b"));
        Assert.Null(feed.Event(1));
        Assert.Equal(0L, feed.Position().Cursor);
        Assert.Equal(auditBefore, feed.AuditCount("certificate.revoked"));

        // Restarted from the cursor, the feed sends the page again (and once more, at least once).
        feed.Applier.Apply(feed.Database, page);
        feed.Applier.Apply(feed.Database, page);
        Assert.Equal("revoked", feed.Revocation("0b0b").Status);
        Assert.Equal("revoked", feed.Revocation("0b0c").Status);
        Assert.Equal(2, feed.StatusChanges("0b0b"));
        Assert.Equal(2, feed.AuditCount("certificate.revoked"));
        Assert.Equal(3, feed.AuditCount("jukinet.event-applied"));
        Assert.Equal(3L, feed.Position().Cursor);
        var verification = feed.VerifyAudit();
        Assert.True(verification.IsValid, verification.ToString());
    }

    [Fact]
    public void A_gap_open_too_long_raises_one_alarm_until_an_officer_closes_it()
    {
        using var feed = NewFeed(nameof(A_gap_open_too_long_raises_one_alarm_until_an_officer_closes_it));
        var alarms = new JukiNetFeedAlarms(feed.Log, TimeSpan.FromMinutes(10), TimeSpan.FromHours(2));
        feed.Apply(Event(1, Hanako, ChangeType.Correction), Event(4, Hanako, ChangeType.Correction));
        feed.Clock.Advance(TimeSpan.FromMinutes(9));
        var early = alarms.RaiseGapAlarms(feed.Database);
        Assert.Empty(early.Raised);
        Assert.False(early.AnyAlarmed);

        feed.Clock.Advance(TimeSpan.FromMinutes(1));
        var first = alarms.RaiseGapAlarms(feed.Database);
        Assert.True(first.AnyAlarmed);
        var raised = Assert.Single(first.Raised);
        Assert.Equal((2L, 3L), (raised.FirstSequence, raised.LastSequence));
        var again = alarms.RaiseGapAlarms(feed.Database);
        Assert.Empty(again.Raised);
        Assert.True(again.AnyAlarmed);
        Assert.Equal(1, feed.AuditCount("jukinet.gap-alarm"));

        // A late event splits the alarmed gap; the rest stays alarmed, then an officer closes it.
        feed.Apply(Event(2, Hanako, ChangeType.Correction));
        Assert.True(alarms.RaiseGapAlarms(feed.Database).AnyAlarmed);
        using (var tx = feed.Database.BeginWrite())
        {
            var gap = JukiNetFeedStore.FindOpenGap(tx, 3)!;
            Assert.NotNull(JukiNetFeedStore.CloseGap(tx, gap.Id, "officer1", "sequence 3 was never issued by Juki-Net", Instant.NowMicros(feed.Clock)));
            Assert.Null(JukiNetFeedStore.CloseGap(tx, gap.Id, "officer2", "twice", Instant.NowMicros(feed.Clock)));
            tx.Commit();
        }

        Assert.False(alarms.RaiseGapAlarms(feed.Database).AnyAlarmed);
        Assert.Empty(feed.OpenGaps());
    }

    [Fact]
    public void A_silent_feed_raises_the_alarm_once_per_silence()
    {
        using var feed = NewFeed(nameof(A_silent_feed_raises_the_alarm_once_per_silence));
        var alarms = new JukiNetFeedAlarms(feed.Log, TimeSpan.FromMinutes(10), TimeSpan.FromHours(2));
        var watching = feed.Clock.GetUtcNow();
        feed.Clock.Advance(TimeSpan.FromMinutes(119));
        Assert.False(alarms.CheckSilence(feed.Database, watching, alreadyRaised: false));
        feed.Clock.Advance(TimeSpan.FromMinutes(1));
        Assert.True(alarms.CheckSilence(feed.Database, watching, alreadyRaised: false));
        Assert.True(alarms.CheckSilence(feed.Database, watching, alreadyRaised: true));
        Assert.Equal(1, feed.AuditCount("jukinet.feed-silent"));

        feed.Apply(Event(1, Hanako, ChangeType.Correction));
        Assert.False(alarms.CheckSilence(feed.Database, watching, alreadyRaised: true));
        feed.Clock.Advance(TimeSpan.FromHours(2));
        Assert.True(alarms.CheckSilence(feed.Database, watching, alreadyRaised: false));
        Assert.Equal(2, feed.AuditCount("jukinet.feed-silent"));
    }

    /// <summary>Signs like <paramref name="inner"/> until its <paramref name="failingCall"/>-th signature, which fails.</summary>
    private sealed class SignerThatDies(Jpki.Hsm.ISigner inner, int failingCall) : Jpki.Hsm.ISigner
    {
        private int calls;

        public byte[] SubjectPublicKeyInfo => inner.SubjectPublicKeyInfo;

        public Jpki.Hsm.KeyKind KeyKind => inner.KeyKind;

        public byte[] Sign(Jpki.Hsm.SignatureAlgorithm algorithm, ReadOnlySpan<byte> data) =>
            ++calls == failingCall ? throw new IOException("killed") : inner.Sign(algorithm, data);

        public byte[] SignDigest(Jpki.Hsm.SignatureAlgorithm algorithm, ReadOnlySpan<byte> digest) =>
            ++calls == failingCall ? throw new IOException("killed") : inner.SignDigest(algorithm, digest);
    }

    private static byte[] Key(ResidentCode code) => HMACSHA256.HashData(HmacKey, Encoding.ASCII.GetBytes(code.Digits));

    private static ChangeEvent Event(long sequence, ResidentCode code, ChangeType type, DateOnly? effective = null) => new()
    {
        Sequence = sequence,
        ResidentCode = code,
        Type = type,
        EffectiveDate = effective ?? new DateOnly(2026, 11, 1),
        Name = type == ChangeType.NameChange ? "山田　花子" : null,
        Address = type == ChangeType.AddressChange ? "山口県山口市亀山町１番１号" : null,
        MunicipalityCode = type == ChangeType.AddressChange ? MunicipalityCode.Parse("352012") : null,
    };

    private TestFeed NewFeed(string name)
    {
        var clock = new ManualClock(Start);
        var database = new Database(fixture.CreateStore(name), clock);
        Migrator.ApplyPending(database);
        var log = new AuditLog(TestHsm.Instance.Checkpoint, new AuditOptions
        {
            CheckpointEveryRecords = 1000,
            CheckpointInterval = TimeSpan.FromDays(1),
            CheckpointFilePath = Path.Combine(fixture.ScratchDirectory, name + ".checkpoints"),
        });
        using (var tx = database.BeginWrite())
        {
            DatabaseTests.SeedIssuerKey(tx, "key-1");
            tx.Commit();
        }

        return new TestFeed(database, clock, new JukiNetFeedApplier(new CertificateRevoker(log), log, Key, "hmac-1"), log, Path.Combine(fixture.ScratchDirectory, name + ".checkpoints"));
    }

    private sealed record TestFeed(Database Database, ManualClock Clock, JukiNetFeedApplier Applier, AuditLog Log, string CheckpointFile) : IDisposable
    {
        public FeedPageResult Apply(params ChangeEvent[] changes) =>
            Applier.Apply(Database, new ChangePage(changes, [], changes.Max(c => c.Sequence)));

        public void Certificate(string serial, string kind, ResidentCode holder, long jukiSequence)
        {
            using var tx = Database.BeginWrite();
            tx.Execute(
                """
                INSERT INTO certificates (serial, issuer_key_id, kind, resident_key, hmac_key_id, juki_sequence, not_before_us, not_after_us, der, status, created_us)
                VALUES (@Serial, 'key-1', @Kind, @ResidentKey, 'hmac-1', @JukiSequence, 0, @NotAfterUs, @Der, 'good', 0)
                """,
                new { Serial = serial, Kind = kind, ResidentKey = Key(holder), JukiSequence = jukiSequence, NotAfterUs = Instant.ToMicros(Start.AddYears(5)), Der = new byte[] { 0x30, 0x00 } });
            StatusChangeLog.Append(tx, "key-1", serial, CertificateStatus.Good, null, Start);
            tx.Commit();
        }

        public (string Status, long? Reason, string? InvalidityDate, string? Source) Revocation(string serial)
        {
            using var connection = Database.OpenConnection();
            return connection.QuerySingle<(string, long?, string?, string?)>(
                "SELECT status, CAST(reason AS BIGINT), invalidity_date, revocation_source FROM certificates WHERE serial = @serial", new { serial });
        }

        public StoredFeedEvent? Event(long sequence)
        {
            using var connection = Database.OpenConnection();
            return JukiNetFeedStore.FindEvent(connection, sequence);
        }

        public FeedPosition Position()
        {
            using var connection = Database.OpenConnection();
            return JukiNetFeedStore.ReadPosition(connection);
        }

        public List<(long, long)> OpenGaps()
        {
            using var connection = Database.OpenConnection();
            return JukiNetFeedStore.ListGaps(connection, openOnly: true).Select(g => (g.FirstSequence, g.LastSequence)).ToList();
        }

        public IReadOnlyList<QuarantinedChange> Quarantine()
        {
            using var connection = Database.OpenConnection();
            return JukiNetFeedStore.ListQuarantine(connection, 100);
        }

        public int StatusChanges(string serial)
        {
            using var connection = Database.OpenConnection();
            return (int)connection.ExecuteScalar<long>("SELECT COUNT(*) FROM status_changes WHERE serial = @serial", new { serial });
        }

        public int AuditCount(string action)
        {
            using var connection = Database.OpenConnection();
            return (int)connection.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_log WHERE action = @action", new { action });
        }

        /// <summary>Whether <paramref name="text"/> occurs in any text column the feed writes.</summary>
        public bool StoreContains(string text)
        {
            using var connection = Database.OpenConnection();
            var like = "%" + text + "%";
            return connection.ExecuteScalar<long>(
                """
                SELECT (SELECT COUNT(*) FROM jukinet_quarantine WHERE redacted_json LIKE @like OR reason LIKE @like)
                     + (SELECT COUNT(*) FROM audit_log WHERE details LIKE @like OR subject LIKE @like)
                     + (SELECT COUNT(*) FROM jukinet_events WHERE type LIKE @like)
                """,
                new { like }) > 0;
        }

        public AuditVerification VerifyAudit() => AuditVerifier.Verify(Database, [TestHsm.Instance.Checkpoint.SubjectPublicKeyInfo], [CheckpointFile]);

        public void Dispose() => Database.Dispose();
    }
}

public sealed class SqliteJukiNetFeedApplierTests(SqliteStoreFixture fixture) : JukiNetFeedApplierTests(fixture), IClassFixture<SqliteStoreFixture>;

public sealed class PostgresJukiNetFeedApplierTests(PostgresStoreFixture fixture) : JukiNetFeedApplierTests(fixture), IClassFixture<PostgresStoreFixture>;
