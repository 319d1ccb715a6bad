using Dapper;
using Jpki.Core.Issuers;
using Jpki.Core.Store;

namespace Jpki.Ocsp.Tests;

/// <summary>The responder's SQL (OcspStore) on both engines, against migrated stores.</summary>
public abstract class OcspStoreTests(IStoreFixture fixture)
{
    private static readonly DateTimeOffset Start = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Status_is_read_for_the_issuing_key_only_with_the_change_mark_taken_before_it()
    {
        using var database = Seeded(nameof(Status_is_read_for_the_issuing_key_only_with_the_change_mark_taken_before_it));
        Insert(database, "0a01", "k1");
        Insert(database, "0a02", "k1");
        using (var tx = database.BeginWrite())
        {
            tx.Execute("UPDATE certificates SET status = 'revoked', revoked_at_us = @at, reason = 6 WHERE serial = '0a02'", new { at = Instant.ToMicros(Start.AddHours(1)) });
            StatusChangeLog.Append(tx, "k1", "0a02", CertificateStatus.Revoked, 6, Start.AddHours(1));
            tx.Commit();
        }

        using var db = database.OpenConnection();
        var mark = OcspStore.LastChangeSeq(db);
        Assert.True(mark > 0);
        Assert.Equal(new StoredStatus(CertificateState.Good, null, null, mark), OcspStore.ReadStatus(db, "k1", "0a01"));
        Assert.Equal(new StoredStatus(CertificateState.Revoked, Start.AddHours(1), 6, mark), OcspStore.ReadStatus(db, "k1", "0a02"));
        Assert.Equal(CertificateState.Unknown, OcspStore.ReadStatus(db, "k2", "0a01").State);
        Assert.Equal(CertificateState.Unknown, OcspStore.ReadStatus(db, "k1", "0a03").State);
    }

    [Fact]
    public void Issuer_keys_come_with_their_newest_good_responder()
    {
        using var database = Seeded(nameof(Issuer_keys_come_with_their_newest_good_responder));
        AddResponder(database, "0b01", "k1", "k1-ocsp-1", Start.AddDays(90));
        AddResponder(database, "0b02", "k1", "k1-ocsp-2", Start.AddDays(150));
        AddResponder(database, "0b03", "k1", "k1-ocsp-3", Start.AddDays(200));
        using (var tx = database.BeginWrite())
        {
            tx.Execute("UPDATE certificates SET status = 'revoked', revoked_at_us = 1, reason = 1 WHERE serial = '0b03'");
            tx.Commit();
        }

        using var db = database.OpenConnection();
        var keys = OcspStore.ListIssuerKeys(db);
        Assert.Equal(["k1", "k2"], keys.Select(k => k.Id));
        Assert.Equal(("0b02", "k1-ocsp-2"), (keys[0].ResponderSerial, keys[0].ResponderKeyLabel));
        Assert.Equal([0x30, 0x0b, 0x02], keys[0].ResponderCertificateDer);
        Assert.Null(keys[1].ResponderKeyLabel);
    }

    [Fact]
    public void Queries_are_appended_and_the_first_revoked_answer_is_kept()
    {
        using var database = Seeded(nameof(Queries_are_appended_and_the_first_revoked_answer_is_kept));
        Insert(database, "0c01", "k1");
        using (var tx = database.BeginWrite())
        {
            OcspStore.AppendQueries(tx, [
                new OcspQueryRecord("verifier", "k1", "0c01", "good", true, 10),
                new OcspQueryRecord(null, null, null, "malformedRequest", false, 11),
            ]);
            Assert.True(OcspStore.RecordFirstRevoked(tx, "0c01", 100, 100_250));
            Assert.False(OcspStore.RecordFirstRevoked(tx, "0c01", 200, 200_250));
            tx.Commit();
        }

        using var db = database.OpenConnection();
        Assert.Equal(2, db.ExecuteScalar<long>("SELECT COUNT(*) FROM ocsp_queries"));
        Assert.Equal(1, db.ExecuteScalar<long>("SELECT COUNT(*) FROM ocsp_queries WHERE verifier = 'verifier' AND issuer_key_id = 'k1' AND serial = '0c01' AND answer = 'good' AND nonce = 1 AND time_us = 10"));
        Assert.Equal(1, db.ExecuteScalar<long>("SELECT COUNT(*) FROM ocsp_queries WHERE verifier IS NULL AND issuer_key_id IS NULL AND serial IS NULL AND answer = 'malformedRequest' AND nonce = 0 AND time_us = 11"));
        Assert.Equal(100, OcspStore.FirstRevokedProducedUs(db, "0c01"));
        Assert.Equal(100_250, db.ExecuteScalar<long>("SELECT signed_us FROM ocsp_first_revoked WHERE serial = '0c01'"));
        Assert.Null(OcspStore.FirstRevokedProducedUs(db, "0c02"));
    }

    private Database Seeded(string name)
    {
        var database = new Database(fixture.CreateStore(name.ToLowerInvariant()[..Math.Min(40, name.Length)]), TimeProvider.System);
        Migrator.ApplyPending(database);
        using var tx = database.BeginWrite();
        IssuerStore.InsertIssuer(tx, new IssuerRow { Id = "p-signing", Prefecture = "P", Kind = "signing", SubjectDn = "CN=P", CreatedUs = 1 });
        foreach (var (id, generation) in new[] { ("k1", 1), ("k2", 2) })
        {
            IssuerStore.InsertKey(tx, new IssuerKeyRow { Id = id, IssuerId = "p-signing", Generation = generation, HsmKeyLabel = id, CertificateDer = [1, 2, 3], NotBeforeUs = 1, NotAfterUs = 2, CreatedUs = 1 });
        }

        tx.Commit();
        return database;
    }

    private static void Insert(Database database, string serial, string keyId, string kind = "signing", byte[]? der = null)
    {
        using var tx = database.BeginWrite();
        IssuerStore.InsertCertificate(tx, new IssuedCertificate(serial, keyId, kind, 1, Instant.ToMicros(Start.AddYears(1)), der ?? [0x30, 0x00], 1));
        tx.Commit();
    }

    private static void AddResponder(Database database, string serial, string keyId, string label, DateTimeOffset notAfter)
    {
        Insert(database, serial, keyId, "ocsp-responder", [0x30, 0x0b, Convert.FromHexString(serial)[1]]);
        using var tx = database.BeginWrite();
        IssuerStore.InsertResponder(tx, serial, keyId, label, Instant.ToMicros(notAfter), 1);
        tx.Commit();
    }
}

public sealed class SqliteOcspStoreTests(SqliteStoreFixture fixture) : OcspStoreTests(fixture), IClassFixture<SqliteStoreFixture>;

public sealed class PostgresOcspStoreTests(PostgresStoreFixture fixture) : OcspStoreTests(fixture), IClassFixture<PostgresStoreFixture>;
