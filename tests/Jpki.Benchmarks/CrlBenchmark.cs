using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Jpki.Core.Store;
using Jpki.CrlPublisher;
using Jpki.Hsm;
using Jpki.Testing;

namespace Jpki.Benchmarks;

/// <summary>
/// A complete CRL of N revoked certificates: built by us from the SQLite store (an SQL count and
/// length aggregate, one streamed pass, SHA-256, one RSA-2048 signature in SoftHSM, written and
/// fsynced to a file; the pre-publication check is not included) against
/// `openssl ca -gencrl` over an index.txt of the same N serials, dates and reasons, in the same run.
/// Peak RSS: ours is this process's VmHWM during the build (reset before it), openssl's from
/// /usr/bin/time. The store is populated with SQL before the clock starts.
/// </summary>
public sealed class CrlBenchmark(string directory, int entries)
{
    public IReadOnlyList<Figure> Run(string modulePath)
    {
        var tokens = Path.Combine(directory, "tokens");
        Directory.CreateDirectory(tokens);
        var conf = Path.Combine(directory, "softhsm2.conf");
        File.WriteAllText(conf, $"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n");
        using var module = Pkcs11Module.Load(modulePath, new Dictionary<string, string> { ["SOFTHSM2_CONF"] = conf });
        var label = "bench-crl";
        var pin = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var pinFile = Path.Combine(directory, "user.pin");
        File.WriteAllText(pinFile, pin);
        HsmToken.Initialise(module, label, RandomNumberGenerator.GetBytes(8), Encoding.UTF8.GetBytes(pin));
        using var token = HsmToken.Open(module, label, PinSource.FromFile(pinFile));
        token.GenerateKeyPair(KeyKind.Rsa, "bench-issuer");
        using var pool = token.CreatePool("crl", 1);
        using var signer = Pkcs11Signer.Open(pool, "bench-issuer");

        var rows = Rows(entries);
        Console.Error.WriteLine($"populating the store with {entries} revoked certificates");
        using var database = new Database("Data Source=" + Path.Combine(directory, "bench.db"), TimeProvider.System);
        Migrator.ApplyPending(database);
        Populate(database, rows);
        Console.Error.WriteLine("writing openssl's index.txt");
        var opensslDir = PrepareOpenssl(rows);

        rows = [];
        GC.Collect();

        var ours = new List<double>();
        var theirs = new List<double>();
        long ourPeakKb = 0;
        long theirPeakKb = 0;
        long size = 0;
        long startRssKb = 0;
        for (var round = 0; round < 2; round++)
        {
            // Give back the memory the population left (the rows, index.txt's buffers) so the peak is the build's.
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            ResetPeakRss();
            startRssKb = PeakRssKb();
            var watch = Stopwatch.StartNew();
            size = BuildOurs(database, signer, Path.Combine(directory, "ours.crl"));
            ours.Add(watch.Elapsed.TotalSeconds);
            ourPeakKb = Math.Max(ourPeakKb, PeakRssKb());

            watch.Restart();
            var (exit, output) = ExternalProcess.Run("/usr/bin/time", "-f", "maxrss=%M", "openssl", "ca", "-gencrl", "-config", Path.Combine(opensslDir, "openssl.cnf"), "-out", Path.Combine(opensslDir, "crl.pem"), "-batch");
            theirs.Add(watch.Elapsed.TotalSeconds);
            if (exit != 0)
            {
                throw new InvalidOperationException("openssl ca -gencrl failed: " + output);
            }

            theirPeakKb = Math.Max(theirPeakKb, long.Parse(output[(output.LastIndexOf("maxrss=", StringComparison.Ordinal) + 7)..].Trim(), CultureInfo.InvariantCulture));
            Console.Error.WriteLine($"round {round + 1}: ours {ours[^1]:0.00} s, openssl ca -gencrl {theirs[^1]:0.00} s");
        }

        var oursBest = ours.Min();
        var theirsBest = theirs.Min();
        return
        [
            Figure.Against($"crl.build.{entries}.seconds", oursBest, "s", "openssl ca -gencrl, same serials", theirsBest),
            Figure.Against($"crl.build.{entries}.speedup", theirsBest / oursBest, "x faster", "openssl ca -gencrl = 1", 1),
            Figure.Against($"crl.build.{entries}.peak-rss", ourPeakKb / 1024.0, "MiB", "openssl ca -gencrl peak RSS", theirPeakKb / 1024.0),
            Figure.Against($"crl.build.{entries}.rss-before-build", startRssKb / 1024.0, "MiB", "(process RSS when the build starts: runtime, SoftHSM, SQLite)", startRssKb / 1024.0),
            Figure.Against($"crl.build.{entries}.size", size / 1024.0 / 1024.0, "MiB", "openssl's PEM CRL", new FileInfo(Path.Combine(opensslDir, "crl.pem")).Length / 1024.0 / 1024.0),
        ];
    }

    private static long BuildOurs(Database database, Pkcs11Signer signer, string output)
    {
        var series = new CrlSeries("bench-g1", CrlScopeKind.Full);
        using var db = database.OpenConnection();
        using var snapshot = db.BeginTransaction();
        var now = DateTimeOffset.UtcNow;
        using var file = new FileStream(output, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024);
        var result = CrlWriter.Write(file, new CrlContent
        {
            IssuerNameDer = new System.Security.Cryptography.X509Certificates.X500DistinguishedName("C=JP, O=JPKI, CN=bench").RawData,
            AuthorityKeyIdentifier = SHA256.HashData(signer.SubjectPublicKeyInfo)[..20],
            ThisUpdate = now,
            NextUpdate = now.AddDays(2),
            Number = now.ToUnixTimeMilliseconds(),
        }, () => CrlStore.CompleteEntries(db, snapshot, database.Dialect, series, long.MinValue, 0), signer, SignatureAlgorithm.RsaPkcs1Sha256, CrlStore.CompleteEntriesSize(db, snapshot, series, long.MinValue, 0));
        file.Flush(flushToDisk: true);
        return result.SizeBytes;
    }

    private sealed record Row(string Serial, DateTimeOffset RevokedAt, int Reason);

    private static List<Row> Rows(int count)
    {
        var random = new Random(11);
        var serial = new byte[16];
        var now = DateTimeOffset.UtcNow;
        var reasons = new[] { 1, 3, 4, 5, 6 };
        var rows = new List<Row>(count);
        for (var i = 0; i < count; i++)
        {
            random.NextBytes(serial);
            serial[0] = (byte)((serial[0] & 0x7F) | 0x01);
            rows.Add(new Row(Convert.ToHexStringLower(serial), Der.TruncateToSeconds(now.AddSeconds(-random.Next(86_400 * 300))), reasons[i % reasons.Length]));
        }

        return rows;
    }

    private static void Populate(Database database, List<Row> rows)
    {
        using var tx = database.BeginWrite();
        tx.Execute("INSERT INTO issuers (id, prefecture, kind, subject_dn, created_us) VALUES ('bench', 'x', 'signing', 'CN=bench', 0)");
        tx.Execute("INSERT INTO issuer_keys (id, issuer_id, generation, hsm_key_label, not_before_us, not_after_us, state, created_us) VALUES ('bench-g1', 'bench', 1, 'x', 0, 9000000000000000, 'active', 0)");
        using var insert = tx.Connection.CreateCommand();
        insert.Transaction = tx.Transaction;
        insert.CommandText =
            "INSERT INTO certificates (serial, issuer_key_id, kind, not_before_us, not_after_us, der, status, revoked_at_us, reason, created_us) VALUES ($s, 'bench-g1', 'signing', 0, 9000000000000000, x'00', 'revoked', $r, $c, 0)";
        var s = insert.CreateParameter();
        s.ParameterName = "$s";
        var r = insert.CreateParameter();
        r.ParameterName = "$r";
        var c = insert.CreateParameter();
        c.ParameterName = "$c";
        insert.Parameters.AddRange(new[] { s, r, c });
        foreach (var row in rows)
        {
            s.Value = row.Serial;
            r.Value = Instant.ToMicros(row.RevokedAt);
            c.Value = row.Reason;
            insert.ExecuteNonQuery();
        }

        tx.Commit();
    }

    /// <summary>An openssl CA directory whose index.txt revokes the same serials with the same dates and reasons.</summary>
    private string PrepareOpenssl(List<Row> rows)
    {
        var dir = Path.Combine(directory, "openssl");
        Directory.CreateDirectory(dir);
        var (exit, output) = ExternalProcess.Run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/C=JP/O=JPKI/CN=bench", "-days", "3650",
            "-keyout", Path.Combine(dir, "ca.key"), "-out", Path.Combine(dir, "ca.pem"));
        if (exit != 0)
        {
            throw new InvalidOperationException(output);
        }

        string[] names = ["unspecified", "keyCompromise", "CACompromise", "affiliationChanged", "superseded", "cessationOfOperation", "certificateHold"];
        using (var index = new StreamWriter(Path.Combine(dir, "index.txt"), false, new UTF8Encoding(false), 1 << 20))
        {
            foreach (var row in rows)
            {
                index.Write($"R\t491231000000Z\t{row.RevokedAt.UtcDateTime:yyMMddHHmmss}Z,{names[row.Reason]}\t{row.Serial.ToUpperInvariant()}\tunknown\t/CN={row.Serial}\n");
            }
        }

        File.WriteAllText(Path.Combine(dir, "index.txt.attr"), "unique_subject = no\n");
        File.WriteAllText(Path.Combine(dir, "crlnumber"), "01\n");
        File.WriteAllText(Path.Combine(dir, "openssl.cnf"), $"""
            [ ca ]
            default_ca = bench
            [ bench ]
            dir = {dir}
            database = $dir/index.txt
            crlnumber = $dir/crlnumber
            certificate = $dir/ca.pem
            private_key = $dir/ca.key
            default_md = sha256
            default_crl_days = 2
            crl_extensions = crl_ext
            [ crl_ext ]
            authorityKeyIdentifier = keyid:always
            """);
        return dir;
    }

    private static void ResetPeakRss()
    {
        // Writing 5 to clear_refs resets VmHWM (Linux 4.0+), so the peak is the build's.
        File.WriteAllText("/proc/self/clear_refs", "5");
    }

    private static long PeakRssKb()
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line["VmHWM:".Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture);
    }
}
