using System.Text.Json.Nodes;
using Dapper;
using Jpki.Core.Audit;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Jpki.Core.Tests.Store;

namespace Jpki.Core.Tests.Revocation;

/// <summary>Revocations against a real store of each engine, with the real audit chain.</summary>
public abstract class CertificateRevokerTests(IStoreFixture fixture)
{
    private static readonly DateTimeOffset Start = new(2026, 11, 22, 1, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_good_certificate_is_revoked_with_the_rules_reason_its_change_and_its_audit_record()
    {
        using var store = NewStore(nameof(A_good_certificate_is_revoked_with_the_rules_reason_its_change_and_its_audit_record));
        store.Seed("0a01", "signing");
        var result = store.Revoke("0a01", RevocationCause.MoveOut, new DateOnly(2026, 11, 20));
        Assert.Equal(RevocationOutcome.Revoked, result.Outcome);
        Assert.Equal(RevocationReason.AffiliationChanged, result.Reason);
        Assert.Equal(Start, result.RevokedAt);

        var row = store.Row("0a01");
        Assert.Equal(("revoked", 3L, "2026-11-20", "jukinet:7", "moveOut"), (row.Status, row.Reason, row.InvalidityDate, row.Source, row.Cause));
        Assert.Equal([("good", (long?)null), ("revoked", 3L)], store.Changes("0a01"));
        var audit = store.AuditDetails("certificate.revoked", "0a01");
        Assert.Equal("affiliationChanged", (string?)audit["reason"]);
        Assert.Equal("moveOut", (string?)audit["cause"]);
        Assert.Equal("jukinet:7", (string?)audit["source"]);
    }

    [Fact]
    public void A_rule_that_keeps_the_kind_changes_nothing()
    {
        using var store = NewStore(nameof(A_rule_that_keeps_the_kind_changes_nothing));
        store.Seed("0a02", "authentication");
        Assert.Equal(RevocationOutcome.KeptByRule, store.Revoke("0a02", RevocationCause.AddressChange).Outcome);
        Assert.Equal("good", store.Row("0a02").Status);
        Assert.Single(store.Changes("0a02"));
        Assert.Equal(0, store.AuditCount());
    }

    [Fact]
    public void Revoking_twice_keeps_the_first_revocation()
    {
        using var store = NewStore(nameof(Revoking_twice_keeps_the_first_revocation));
        store.Seed("0a03", "signing");
        store.Revoke("0a03", RevocationCause.MoveOut);
        store.Clock.Advance(TimeSpan.FromHours(1));
        var again = store.Revoke("0a03", RevocationCause.Death);
        Assert.Equal(RevocationOutcome.AlreadyRevoked, again.Outcome);
        Assert.Equal(RevocationReason.AffiliationChanged, again.Reason);
        Assert.Equal(Start, again.RevokedAt);
        Assert.Equal(2, store.Changes("0a03").Count);
        Assert.Equal(1, store.AuditCount());
    }

    [Fact]
    public void A_hold_becomes_permanent_and_anything_becomes_key_compromise_keeping_the_first_date()
    {
        using var store = NewStore(nameof(A_hold_becomes_permanent_and_anything_becomes_key_compromise_keeping_the_first_date));
        store.Seed("0a04", "signing");
        store.Revoke("0a04", RevocationCause.KeySafetyInDoubt, new DateOnly(2026, 11, 21));
        store.Clock.Advance(TimeSpan.FromHours(2));
        var permanent = store.Revoke("0a04", RevocationCause.RecordError, new DateOnly(2026, 11, 22));
        Assert.Equal(RevocationOutcome.ReasonChanged, permanent.Outcome);
        Assert.Equal(RevocationReason.Unspecified, permanent.Reason);
        Assert.Equal(Start, permanent.RevokedAt);
        var compromised = store.Revoke("0a04", RevocationCause.CardLost);
        Assert.Equal(RevocationOutcome.ReasonChanged, compromised.Outcome);

        var row = store.Row("0a04");
        Assert.Equal(("revoked", 1L, "2026-11-21", Instant.ToMicros(Start)), (row.Status, row.Reason, row.InvalidityDate, row.RevokedAtUs));
        Assert.Equal([("good", (long?)null), ("revoked", 6L), ("revoked", 0L), ("revoked", 1L)], store.Changes("0a04"));
        var change = store.AuditDetails("certificate.revocation-reason-changed", "0a04");
        Assert.Equal("certificateHold", (string?)change["previousReason"]);
        // A hold never goes back to good, and nothing goes back to hold.
        Assert.Equal(RevocationOutcome.AlreadyRevoked, store.Revoke("0a04", RevocationCause.KeySafetyInDoubt).Outcome);
    }

    [Fact]
    public void An_unknown_serial_is_not_found_and_a_rolled_back_revocation_leaves_nothing()
    {
        using var store = NewStore(nameof(An_unknown_serial_is_not_found_and_a_rolled_back_revocation_leaves_nothing));
        store.Seed("0a05", "signing");
        Assert.Equal(RevocationOutcome.NotFound, store.Revoke("0bad", RevocationCause.CardLost).Outcome);
        using (var tx = store.Database.BeginWrite())
        {
            Assert.True(store.Revoker.Revoke(tx, Order("0a05", RevocationCause.CardLost, null)).Changed);
        }

        Assert.Equal("good", store.Row("0a05").Status);
        Assert.Single(store.Changes("0a05"));
        Assert.Equal(0, store.AuditCount());
    }

    [Fact]
    public void A_residents_unexpired_certificates_are_found_by_the_keyed_hash()
    {
        using var store = NewStore(nameof(A_residents_unexpired_certificates_are_found_by_the_keyed_hash));
        store.Seed("0a06", "signing", residentKey: [1, 2, 3]);
        store.Seed("0a07", "authentication", residentKey: [1, 2, 3]);
        store.Seed("0a08", "signing", residentKey: [9, 9, 9]);
        store.Seed("0a09", "signing", residentKey: [1, 2, 3], notAfter: Start.AddDays(-1));
        using var tx = store.Database.BeginWrite();
        var found = CertificateRevoker.ResidentCertificates(tx, [1, 2, 3], "hmac-1", Instant.ToMicros(Start));
        Assert.Equal(["0a06", "0a07"], found.Select(c => c.Serial));
        Assert.Empty(CertificateRevoker.ResidentCertificates(tx, [1, 2, 3], "hmac-2", Instant.ToMicros(Start)));
    }

    private static RevocationOrder Order(string serial, RevocationCause cause, DateOnly? invalidity) => new()
    {
        Serial = serial,
        Cause = cause,
        Source = "jukinet:7",
        Actor = "system/test",
        InvalidityDate = invalidity,
    };

    private TestStore NewStore(string name)
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

        return new TestStore(database, clock, new CertificateRevoker(log));
    }

    private sealed class StoredRevocation
    {
        public string Status { get; set; } = "";

        public long? Reason { get; set; }

        public string? InvalidityDate { get; set; }

        public string? Source { get; set; }

        public string? Cause { get; set; }

        public long? RevokedAtUs { get; set; }
    }

    private sealed record TestStore(Database Database, ManualClock Clock, CertificateRevoker Revoker) : IDisposable
    {
        public void Seed(string serial, string kind, byte[]? residentKey = null, DateTimeOffset? notAfter = null)
        {
            using var tx = Database.BeginWrite();
            tx.Execute(
                """
                INSERT INTO certificates (serial, issuer_key_id, kind, resident_key, hmac_key_id, juki_sequence, not_before_us, not_after_us, der, status, created_us)
                VALUES (@Serial, 'key-1', @Kind, @ResidentKey, 'hmac-1', 1, 0, @NotAfterUs, @Der, 'good', 0)
                """,
                new { Serial = serial, Kind = kind, ResidentKey = residentKey ?? [7], NotAfterUs = Instant.ToMicros(notAfter ?? Start.AddYears(5)), Der = new byte[] { 0x30, 0x00 } });
            StatusChangeLog.Append(tx, "key-1", serial, CertificateStatus.Good, null, Start);
            tx.Commit();
        }

        public RevocationResult Revoke(string serial, RevocationCause cause, DateOnly? invalidity = null)
        {
            using var tx = Database.BeginWrite();
            var result = Revoker.Revoke(tx, Order(serial, cause, invalidity));
            tx.Commit();
            return result;
        }

        public StoredRevocation Row(string serial)
        {
            using var connection = Database.OpenConnection();
            return connection.QuerySingle<StoredRevocation>(
                "SELECT status AS Status, reason AS Reason, invalidity_date AS InvalidityDate, revocation_source AS Source, revocation_cause AS Cause, revoked_at_us AS RevokedAtUs FROM certificates WHERE serial = @serial",
                new { serial });
        }

        public List<(string Status, long? Reason)> Changes(string serial)
        {
            using var connection = Database.OpenConnection();
            return connection.Query<(string, long?)>("SELECT status, CAST(reason AS BIGINT) FROM status_changes WHERE serial = @serial ORDER BY change_seq", new { serial }).ToList();
        }

        public JsonObject AuditDetails(string action, string subject)
        {
            using var connection = Database.OpenConnection();
            var details = connection.QuerySingle<string>("SELECT details FROM audit_log WHERE action = @action AND subject = @subject ORDER BY seq LIMIT 1", new { action, subject });
            return JsonNode.Parse(details)!.AsObject();
        }

        public long AuditCount()
        {
            using var connection = Database.OpenConnection();
            return connection.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_log");
        }

        public void Dispose() => Database.Dispose();
    }
}

public sealed class SqliteCertificateRevokerTests(SqliteStoreFixture fixture) : CertificateRevokerTests(fixture), IClassFixture<SqliteStoreFixture>;

public sealed class PostgresCertificateRevokerTests(PostgresStoreFixture fixture) : CertificateRevokerTests(fixture), IClassFixture<PostgresStoreFixture>;
