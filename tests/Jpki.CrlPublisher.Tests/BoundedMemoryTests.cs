using System.Diagnostics;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// 200,000 revoked certificates inserted with SQL into a store of their own, built into a CRL
/// signed by the ceremony's issuer key in SoftHSM. Live managed memory is measured after a full
/// collection every 20,000 entries during the build; a control run that holds the rows shows
/// that the same measure does see a build that keeps its entries.
/// </summary>
[Collection(CrlTestGroup.Name)]
public sealed class BoundedMemoryTests(CrlFixture crl)
{
    private const int Entries = 200_000;
    private const long Bound = 24L * 1024 * 1024;
    private const long Margin = 8L * 1024 * 1024;

    [Fact]
    public void A200kEntryCrlIsBuiltInBoundedMemoryAndOpensslVerifiesIt()
    {
        var directory = Directory.CreateTempSubdirectory("jpki-crl-200k-").FullName;
        try
        {
            using var database = new Database("Data Source=" + Path.Combine(directory, "big.db"), TimeProvider.System);
            Migrator.ApplyPending(database);
            var key = crl.Services.Publisher.IssuerKeys[CrlFixture.SigningKey];
            Populate(database, key);
            var series = new CrlSeries(CrlFixture.SigningKey, CrlScopeKind.Full);
            var output = Path.Combine(directory, "full.crl");

            var streamed = Build(database, key, series, output, hold: false);
            var holding = Build(database, key, series, Path.Combine(directory, "held.crl"), hold: true);

            Assert.True(streamed < Bound, $"live managed memory rose by {streamed / 1024 / 1024} MiB while streaming {Entries} entries");
            // The control only has to show the measure sees held rows: 200k rows are 14–32 MiB
            // live depending on the runtime's layout, so compare with the streamed build, not the bound.
            Assert.True(holding > streamed + Margin, $"the control that holds the rows rose by {holding / 1024 / 1024} MiB, streaming by {streamed / 1024 / 1024} MiB: the measure cannot tell");

            var openssl = ExternalProcess.Run("openssl", "crl", "-inform", "DER", "-in", output, "-CAfile", crl.RootPem, "-noout", "-verify");
            Assert.True(openssl.ExitCode == 0 && openssl.Output.Contains("verify OK", StringComparison.Ordinal), openssl.Output);
            using var stream = File.OpenRead(output);
            using var reader = new CrlFileReader(stream);
            reader.ReadPreamble();
            Assert.Equal(Entries, reader.ReadEntrySerials().LongCount());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Builds the CRL and returns the highest live managed heap seen mid-build, above the start.</summary>
    private static long Build(Database database, CrlIssuerKey key, CrlSeries series, string output, bool hold)
    {
        var baseline = LiveHeap();
        var peak = 0L;
        using var db = database.OpenConnection();
        using var snapshot = db.BeginTransaction();
        var now = DateTimeOffset.UtcNow;
        List<CrlEntryRow>? held = null;
        Func<IEnumerable<CrlEntryRow>> entries = () => CrlStore.CompleteEntries(db, snapshot, database.Dialect, series, long.MinValue, 0);
        if (hold)
        {
            held = entries().ToList();
            entries = () => held;
        }

        // Measured on the building thread itself, every 20,000 entries handed to the writer: a
        // full collection, then the live heap. (A sampler thread watching the runtime's GCs missed
        // the control's held rows under load: its samples landed before or after them.)
        var source = entries;
        entries = () => Sampled(source(), () => peak = Math.Max(peak, LiveHeap() - baseline));

        using var file = new FileStream(output, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024);
        var result = CrlWriter.Write(file, new CrlContent
        {
            IssuerNameDer = key.IssuerNameDer,
            AuthorityKeyIdentifier = key.KeyIdentifier,
            ThisUpdate = now,
            NextUpdate = now.AddDays(2),
            Number = now.ToUnixTimeMilliseconds(),
        }, entries, key.Signer, Jpki.Hsm.SignatureAlgorithm.RsaPkcs1Sha256);
        Assert.Equal(Entries, result.EntryCount);
        GC.KeepAlive(held);
        return peak;
    }

    private static IEnumerable<CrlEntryRow> Sampled(IEnumerable<CrlEntryRow> rows, Action sample)
    {
        var n = 0;
        foreach (var row in rows)
        {
            if (++n % 20_000 == 0)
            {
                sample();
            }

            yield return row;
        }
    }

    private static long LiveHeap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: false);
    }

    private static void Populate(Database database, CrlIssuerKey key)
    {
        using var tx = database.BeginWrite();
        tx.Execute("INSERT INTO issuers (id, prefecture, kind, subject_dn, created_us) VALUES ('big', 'x', 'signing', 'CN=x', 0)");
        tx.Execute(
            "INSERT INTO issuer_keys (id, issuer_id, generation, hsm_key_label, not_before_us, not_after_us, state, created_us) VALUES (@Id, 'big', 1, 'x', 0, 9000000000000000, 'active', 0)",
            new { Id = key.IssuerKeyId });
        var random = new Random(7);
        var serial = new byte[16];
        var nowUs = Instant.NowMicros(TimeProvider.System);
        using var insert = tx.Connection.CreateCommand();
        insert.Transaction = tx.Transaction;
        insert.CommandText =
            """
            INSERT INTO certificates (serial, issuer_key_id, kind, municipality_code, not_before_us, not_after_us, der, status, revoked_at_us, reason, invalidity_date, created_us)
            VALUES ($serial, $key, 'signing', '352012', 0, $notAfter, x'00', 'revoked', $revokedAt, $reason, $invalidity, 0)
            """;
        var pSerial = insert.CreateParameter();
        pSerial.ParameterName = "$serial";
        var pKey = insert.CreateParameter();
        pKey.ParameterName = "$key";
        pKey.Value = key.IssuerKeyId;
        var pNotAfter = insert.CreateParameter();
        pNotAfter.ParameterName = "$notAfter";
        pNotAfter.Value = nowUs + 86_400_000_000L * 365;
        var pRevokedAt = insert.CreateParameter();
        pRevokedAt.ParameterName = "$revokedAt";
        var pReason = insert.CreateParameter();
        pReason.ParameterName = "$reason";
        var pInvalidity = insert.CreateParameter();
        pInvalidity.ParameterName = "$invalidity";
        insert.Parameters.AddRange(new[] { pSerial, pKey, pNotAfter, pRevokedAt, pReason, pInvalidity });
        for (var i = 0; i < Entries; i++)
        {
            random.NextBytes(serial);
            serial[0] = (byte)((serial[0] & 0x7F) | 0x01);
            pSerial.Value = Convert.ToHexStringLower(serial);
            pRevokedAt.Value = nowUs - random.NextInt64(86_400_000_000L * 300);
            pReason.Value = new[] { 0, 1, 3, 4, 5, 6 }[i % 6];
            pInvalidity.Value = i % 3 == 0 ? "2026-01-05" : DBNull.Value;
            insert.ExecuteNonQuery();
        }

        tx.Commit();
        Debug.Assert(tx.Connection is not null);
    }
}
