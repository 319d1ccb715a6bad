using System.Security.Cryptography;
using Dapper;
using Jpki.Core.Accounts;
using Jpki.Core.Configuration;
using Jpki.Core.Profiles;
using Jpki.Core.Store;

namespace Jpki.Ocsp.Tests;

/// <summary>
/// The bounded version of <c>./jpki bench scale</c> (issue 19): a ceremony for three prefectures
/// chosen with <c>hsm init --prefectures</c>, a synthetic fill of 20,000 rows that is interrupted
/// (a batch rolled back, as a killed fill leaves it) and resumed, and a Zipf mix of 300 OCSP
/// queries to the real responder (a child process on the install) whose answers must carry the
/// status the store holds for each row. No HSM in this process: the ceremony and the responder
/// are child processes with their own SoftHSM store.
/// </summary>
public sealed class ScaleFillTests : IDisposable
{
    private const int Rows = 20_000;

    private readonly string root = Directory.CreateTempSubdirectory("jpki-scale-fill-").FullName;
    private readonly string tokenLabel = "SCALE-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
    private readonly string modulePath = Environment.GetEnvironmentVariable("JPKI_PKCS11_MODULE") is { Length: > 0 } m ? m : "/usr/lib/softhsm/libsofthsm2.so";

    private string Home => Path.Combine(root, "home");

    private string Conf => Path.Combine(root, "softhsm2.conf");

    [Fact]
    public void The_prefecture_table_has_the_47_jis_codes_in_order_with_distinct_names()
    {
        Assert.Equal(Enumerable.Range(1, 47).Select(i => i.ToString("00", System.Globalization.CultureInfo.InvariantCulture)), Prefectures.All.Select(p => p.Code));
        Assert.Equal(47, Prefectures.All.Select(p => p.RomanisedName.ToLowerInvariant()).Distinct().Count());
        Assert.Equal(47, Prefectures.All.Select(p => p.KanjiName).Distinct().Count());
        Assert.Equal("Yamaguchi-ken", Prefectures.Find("35")!.RomanisedName);
        Assert.Equal(["01", "13", "35"], Prefectures.Select("35, 13,1,13").Select(p => p.Code));
        Assert.Throws<ArgumentException>(() => Prefectures.Select("48"));
    }

    [Fact]
    public async Task An_interrupted_fill_resumes_to_exactly_the_rows_asked_and_a_zipf_mix_gets_the_stored_statuses()
    {
        Directory.CreateDirectory(Path.Combine(root, "tokens"));
        Directory.CreateDirectory(Home);
        File.WriteAllText(Conf, $"directories.tokendir = {Path.Combine(root, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");

        var refused = TestInstall.RunTool(Home, Conf, tokenLabel, modulePath, "hsm", "init", "--prefectures", "13,99");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("'99' is not a prefecture code", refused.Stderr, StringComparison.Ordinal);

        var (exit, stdout, stderr) = TestInstall.RunTool(Home, Conf, tokenLabel, modulePath, "hsm", "init", "--prefectures", "35,13,27");
        Assert.True(exit == 0, stdout + stderr);
        Assert.Contains("prefectures added to jpki.json: 3 (13, 27, 35)", stdout, StringComparison.Ordinal);
        var settings = JpkiSettings.Load(Home, writeDefaults: false);
        Assert.Equal(["13", "27", "35"], settings.Prefectures.Select(p => p.Code));
        Assert.Equal(["東京都", "大阪府", "山口県"], settings.Prefectures.Select(p => p.Kanji));

        using var database = new Database(settings.ConnectionString, TimeProvider.System);
        using (var db = database.OpenConnection())
        {
            Assert.Equal(
                ["osaka-fu-authentication", "osaka-fu-signing", "tokyo-to-authentication", "tokyo-to-signing", "yamaguchi-ken-authentication", "yamaguchi-ken-signing"],
                db.Query<string>("SELECT id FROM issuers ORDER BY id"));
        }

        var fill = FillsWithAnInterruption(database, settings, Rows, 3_000, [9_000, 12_000, 15_000, 18_000, 20_000]);

        var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        using (var tx = database.BeginWrite())
        {
            AccountStore.Insert(tx, new Account("scale-verifier", AccountRole.Verifier, [], false), AccountStore.TokenHash(secret));
            tx.Commit();
        }

        await using var responder = await ServiceProcess.StartAsync(
            TestInstall.BuiltToolPath("ocsp", "Jpki.Ocsp"),
            new Dictionary<string, string> { ["JPKI_HOME"] = Home, ["SOFTHSM2_CONF"] = Conf, ["JPKI_HSM_TOKEN"] = tokenLabel, ["JPKI_PKCS11_MODULE"] = modulePath },
            "OCSP responder listening on ");
        var queries = new ZipfOcspQueries(fill, Rows);
        var mix = queries.Mix(300, seed: 19);

        // Zipf: the hottest rank is about 1/ln(n) of the mix; the tail still reaches revoked rows.
        Assert.InRange(mix.Count(q => q.Row == queries.RowOfRank(1)), 10, 60);
        Assert.True(mix.Select(q => q.Row).Distinct().Count() is > 50 and < 300);
        Assert.Contains(mix, q => SyntheticFill.IsRevoked(q.Row));
        using (var db = database.OpenConnection())
        {
            // What the check below expects of a row is what the store holds for it.
            Assert.All(mix.Select(q => q.Row).Distinct(), row => Assert.Equal(
                SyntheticFill.IsRevoked(row) ? "revoked" : "good",
                db.QuerySingle<string>("SELECT status FROM certificates WHERE serial = @serial", new { serial = SyntheticFill.Serial(row) })));
        }

        var drive = await ZipfOcspQueries.DriveAsync(responder.Address, secret, mix, loops: 4, window: TimeSpan.FromMinutes(2), repeat: false, check: true);
        Assert.Equal(mix.Count, drive.Answers);
        Assert.Equal(0, drive.Wrong);
    }

    [Fact]
    public void On_postgresql_the_fill_copies_batches_and_resumes_after_an_interrupted_one()
    {
        Directory.CreateDirectory(Path.Combine(root, "tokens"));
        File.WriteAllText(Conf, $"directories.tokendir = {Path.Combine(root, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
        var name = "jpki_scale_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var server = PostgresServer.Shared;
        server.Execute($"CREATE DATABASE {name}");
        try
        {
            var home = Path.Combine(root, "home-pg");
            JpkiSettings.Load(home); // writes the defaults: one prefecture, Yamaguchi-ken
            var file = Path.Combine(home, JpkiSettings.FileName);
            var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(file))!;
            json["database"] = new Npgsql.NpgsqlConnectionStringBuilder(server.ConnectionString) { Database = name }.ToString();
            File.WriteAllText(file, json.ToJsonString());
            TestInstall.RunCeremony(home, Conf, tokenLabel + "P", modulePath);
            var settings = JpkiSettings.Load(home, writeDefaults: false);
            using var database = new Database(settings.ConnectionString, TimeProvider.System);
            Assert.Equal(StoreDialect.Postgres, database.Dialect);
            FillsWithAnInterruption(database, settings, 10_000, 2_000, [8_000, 10_000]);
        }
        finally
        {
            server.Execute($"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        }
    }

    /// <summary>
    /// Fills 6,000 rows (the secondary indexes dropped and built again around it), then a fill is
    /// killed with its indexes dropped and a batch open (the store rolls the batch back and keeps
    /// the index definitions), resumes to <paramref name="rows"/> (progress after each batch as
    /// expected), and the store holds exactly rows 0..rows-1 with every index back: each serial
    /// once, one in ten revoked (as many signing as authentication), each with its status change,
    /// spread evenly over the issuers.
    /// </summary>
    private static SyntheticFill FillsWithAnInterruption(Database database, JpkiSettings settings, int rows, int batch, long[] progressExpected)
    {
        var fill = new SyntheticFill(database, settings) { DropIndexesFrom = 1_000 };
        var indexes = fill.SecondaryIndexes();
        Assert.Contains("certificates_spki", indexes);
        Assert.Contains("certificates_revoked", indexes);
        Assert.Contains("status_changes_serial", indexes);
        Assert.Equal(6_000, fill.Run(6_000, 2_000).Added);
        Assert.Equal(indexes, fill.SecondaryIndexes());

        // Killed mid-batch while its indexes were dropped: the open batch is rolled back, the
        // definitions of the dropped indexes stay in the store.
        fill.DropSecondaryIndexes();
        Assert.DoesNotContain("certificates_spki", fill.SecondaryIndexes());
        using (var tx = database.BeginWrite())
        {
            fill.InsertBatch(tx, 6_000, 2_000);
        }

        Assert.Equal(6_000, fill.Committed());
        var progress = new List<long>();
        Assert.Equal(rows - 6_000, fill.Run(rows, batch, (held, _, _) => progress.Add(held)).Added);
        Assert.Equal(progressExpected, progress);
        Assert.Equal(indexes, fill.SecondaryIndexes());
        Assert.Equal(0, fill.Run(rows, batch).Added);

        var issuers = settings.Prefectures.Count * 2;
        using var db = database.OpenConnection();
        var stored = db.Query<(string Serial, string IssuerKeyId, string Status)>(
            "SELECT serial AS Serial, issuer_key_id AS IssuerKeyId, status AS Status FROM certificates WHERE kind IN ('signing', 'authentication')").ToList();
        Assert.Equal(rows, stored.Count);
        Assert.Equal(rows, stored.Select(s => s.Serial).Distinct().Count());
        Assert.True(stored.Select(s => s.Serial).ToHashSet().SetEquals(Enumerable.Range(0, rows).Select(i => SyntheticFill.Serial(i))));
        Assert.Equal(rows / 10, stored.Count(s => s.Status == "revoked"));
        Assert.Equal(rows / 20, db.QuerySingle<long>("SELECT COUNT(*) FROM certificates WHERE kind = 'signing' AND status = 'revoked'"));
        Assert.Equal(
            rows / 10,
            db.QuerySingle<long>("SELECT COUNT(*) FROM status_changes s JOIN certificates c ON c.serial = s.serial AND c.revoked_at_us = s.time_us WHERE s.status = 'revoked' AND c.kind IN ('signing', 'authentication')"));
        Assert.Equal(issuers, stored.Select(s => s.IssuerKeyId).Distinct().Count());
        Assert.All(stored.GroupBy(s => s.IssuerKeyId), g => Assert.InRange(g.Count(), (rows / issuers) - 1, (rows / issuers) + 1));
        Assert.All(stored.Select(s => s.Serial), s => Assert.Equal(32, s.Length));
        return fill;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
            // A responder still closing its files: the temporary directory is left behind.
        }
    }
}
