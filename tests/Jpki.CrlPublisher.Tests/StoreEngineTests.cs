using System.Formats.Asn1;
using Dapper;
using Jpki.Core.Revocation;
using Jpki.Core.Store;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// The CRL aggregate's SQL on both engines (the migration, numbering under the writers' lock,
/// snapshots, serial order, deltas, first listings), with two publisher instances on one store.
/// Signed with the ceremony's issuer key of the fixture; the store is the engine's own.
/// </summary>
public abstract class StoreEngineTests(CrlFixture crl, IStoreFixture stores)
{
    private const string Code = "352012";

    [Fact]
    public void TwoInstancesPublishCompleteAndDeltaCrlsWithRisingNumbersAndExactDeltas()
    {
        using var database = new Database(stores.CreateStore("crl_" + Guid.NewGuid().ToString("N")[..8]), TimeProvider.System);
        Migrator.ApplyPending(database);
        var key = crl.Services.Publisher.IssuerKeys[CrlFixture.SigningKey];
        Seed(database, key.IssuerKeyId, 40);
        var directory = Path.Combine(stores.ScratchDirectory, Guid.NewGuid().ToString("N"));
        var options = CrlPublisherServices.OptionsFrom(crl.Settings) with { Directory = directory, ArchiveDirectory = Path.Combine(directory, "archive") };
        var keys = new Dictionary<string, CrlIssuerKey> { [key.IssuerKeyId] = key };
        // The engine's store is a chain of its own: its checkpoints go to a file of its own.
        var (audit, checkpointSigner) = crl.AuditOfAnotherStore(Path.Combine(directory, "checkpoints"));
        using var signer = checkpointSigner;
        var first = new SeriesPublisher(database, audit, keys, options);
        var second = new SeriesPublisher(database, audit, keys, options);
        var full = new CrlSeries(key.IssuerKeyId, CrlScopeKind.Full);
        var partition = new CrlSeries(key.IssuerKeyId, CrlScopeKind.Municipality, Code);
        var serials = Serials(database);

        Revoke(database, audit, serials.Take(10));
        var complete = first.Publish(full, delta: false, scheduled: true)!;
        var completePartition = second.Publish(partition, delta: false, scheduled: true)!;
        Assert.Equal(10, complete.EntryCount);
        Assert.Equal(10, completePartition.EntryCount);

        Revoke(database, audit, serials.Skip(10).Take(5));
        var delta = second.Publish(full, delta: true, scheduled: true)!;
        Assert.Equal(5, delta.EntryCount);
        Assert.Equal(serials.Skip(10).Take(5).Order(StringComparer.Ordinal), EntrySerials(delta.Path));

        Revoke(database, audit, serials.Skip(15).Take(3));
        var numbers = new List<long> { complete.Number, delta.Number };
        for (var i = 0; i < 3; i++)
        {
            numbers.Add((i % 2 == 0 ? first : second).Publish(full, delta: false, scheduled: false)!.Number);
        }

        Assert.Equal(numbers.Order(), numbers);
        Assert.Equal(numbers.Count, numbers.Distinct().Count());
        Assert.Equal(18, EntrySerials(first.PathOf(full, delta: false)).Count);
        Assert.Equal(serials.Take(18).Order(StringComparer.Ordinal), EntrySerials(first.PathOf(full, delta: false)));

        using var db = database.OpenConnection();
        Assert.Equal(18L, db.ExecuteScalar<long>("SELECT COUNT(*) FROM crl_first_listings"));
        // Issue 21, on either engine: no CRL lists a revocation dated after its thisUpdate, even built right after it.
        Assert.Equal(0L, db.ExecuteScalar<long>("SELECT COUNT(*) FROM certificates c JOIN crl_first_listings f ON f.serial = c.serial WHERE c.revoked_at_us > f.this_update_us"));
        Assert.Equal(complete.Number, CrlStore.FirstListing(db, serials[0])!.Number);
        Assert.Equal(delta.Number, CrlStore.FirstListing(db, serials[10])!.Number);
        Assert.Equal(db.ExecuteScalar<long>("SELECT COUNT(*) FROM crls"), db.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_log WHERE action = 'crl.published'"));
    }

    private static void Seed(Database database, string issuerKeyId, int count)
    {
        var crlDp = CrlDp($"http://127.0.0.1:8083/crl/{issuerKeyId}/m/{Code}.crl");
        using var tx = database.BeginWrite();
        tx.Execute("INSERT INTO issuers (id, prefecture, kind, subject_dn, created_us) VALUES ('yamaguchi-ken-signing', 'x', 'signing', 'CN=x', 0)");
        tx.Execute(
            "INSERT INTO issuer_keys (id, issuer_id, generation, hsm_key_label, not_before_us, not_after_us, state, created_us) VALUES (@issuerKeyId, 'yamaguchi-ken-signing', 1, 'x', 0, 9000000000000000, 'active', 0)",
            new { issuerKeyId });
        var random = new Random(3);
        var bytes = new byte[16];
        var now = DateTimeOffset.UtcNow;
        for (var i = 0; i < count; i++)
        {
            random.NextBytes(bytes);
            bytes[0] = (byte)((bytes[0] & 0x7F) | 0x01);
            var serial = Convert.ToHexStringLower(bytes);
            tx.Execute(
                """
                INSERT INTO certificates (serial, issuer_key_id, kind, municipality_code, not_before_us, not_after_us, der, crl_dp_der, status, created_us)
                VALUES (@serial, @issuerKeyId, 'signing', @Code, 0, @notAfter, @der, @crlDp, 'good', @i)
                """,
                new { serial, issuerKeyId, Code, notAfter = Instant.ToMicros(now.AddYears(5)), der = new byte[] { 0 }, crlDp, i });
            StatusChangeLog.Append(tx, issuerKeyId, serial, CertificateStatus.Good, null, now);
        }

        tx.Commit();
    }

    private static void Revoke(Database database, Jpki.Core.Audit.AuditLog audit, IEnumerable<string> serials)
    {
        using var tx = database.BeginWrite();
        var revoker = new CertificateRevoker(audit);
        foreach (var serial in serials)
        {
            Assert.True(revoker.Revoke(tx, new RevocationOrder { Serial = serial, Cause = RevocationCause.MoveOut, Source = "test", Actor = "officer1" }).Changed);
        }

        tx.Commit();
    }

    private static List<string> Serials(Database database)
    {
        using var db = database.OpenConnection();
        return db.Query<string>("SELECT serial FROM certificates ORDER BY created_us").AsList();
    }

    private static List<string> EntrySerials(string path)
    {
        using var stream = File.OpenRead(path);
        using var reader = new CrlFileReader(stream);
        reader.ReadPreamble();
        return reader.ReadEntrySerials().ToList();
    }

    private static byte[] CrlDp(string url)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        using (writer.PushSequence())
        using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0)))
        using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0)))
        {
            writer.WriteCharacterString(UniversalTagNumber.IA5String, url, new Asn1Tag(TagClass.ContextSpecific, 6));
        }

        return writer.Encode();
    }
}

[Collection(CrlTestGroup.Name)]
public sealed class SqliteStoreEngineTests(CrlFixture crl, SqliteStoreFixture stores) : StoreEngineTests(crl, stores), IClassFixture<SqliteStoreFixture>;

[Collection(CrlTestGroup.Name)]
public sealed class PostgresStoreEngineTests(CrlFixture crl, PostgresStoreFixture stores) : StoreEngineTests(crl, stores), IClassFixture<PostgresStoreFixture>;
