using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Jpki.Core.Accounts;
using Jpki.Core.Configuration;
using Jpki.Core.Store;
using Jpki.Testing;

namespace Jpki.Benchmarks;

/// <summary>
/// National scale (issue 19, docs/decisions/0940): one install with all 47 prefectures (94
/// issuers) whose store is filled with synthetic certificate rows (<see cref="SyntheticFill"/>),
/// kept under DIR/scale (SQLite) or DIR/scale-pg (PostgreSQL, the server of
/// <c>./jpki bench scale --postgres</c>) between runs, so that a fill of millions of rows is made
/// once, resumed after a kill, and measured many times. A 100,000-row install of one prefecture
/// (DIR/scale-100k) is the baseline every figure is set against in the same run. All tokens are
/// in one SoftHSM store (DIR/scale-tokens), one token per install.
/// </summary>
public sealed class ScaleBenchmark(string benchDir, string modulePath, bool postgres, TimeSpan window)
{
    public const long BaselineRows = 100_000;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private string Home => Path.Combine(benchDir, postgres ? "scale-pg" : "scale");

    private string BaselineHome => Path.Combine(benchDir, "scale-100k");

    private string Conf => Path.Combine(benchDir, "scale-softhsm2.conf");

    /// <summary>
    /// <c>bench scale fill</c>: the ceremony of the 47 prefectures if the install lacks issuers
    /// (its time is a figure, kept in DIR/scale*/ceremony.json for later runs), then rows until
    /// the store holds <paramref name="rows"/>, with a progress line every few seconds.
    /// </summary>
    public IReadOnlyList<Figure> Fill(long rows, int batchRows)
    {
        var ceremony = EnsureInstall(Home, "all");
        var (settings, database) = Open(Home);
        using (database)
        {
            var fill = new SyntheticFill(database, settings);
            var held = fill.Committed();
            Console.Error.WriteLine($"fill: {Home} ({database.Dialect}, {fill.Prefectures.Count} prefectures) holds {held:N0} rows; target {rows:N0}");
            var (added, rate) = fill.Run(rows, batchRows, Progress());
            Console.Error.WriteLine($"fill: added {added:N0} rows at {rate:N0} rows/s; the store holds {Math.Max(held, rows):N0}");
            return
            [
                ceremony,
                Figure.Against($"scale fill ({database.Dialect}, {added:N0} rows added)", rate, "rows/s", $"rows/s needed for 10,000,000 rows in 1 h", 10_000_000 / 3600.0),
            ];
        }
    }

    /// <summary>
    /// <c>bench scale</c>: on the filled store and on the 100,000-row baseline, each with its own
    /// OCSP responder process: the Zipf mix over all rows (answers/s, hit ratio from the
    /// responder's /metrics), the hit path (a warmed set asked again and again) and the miss path
    /// (rows never asked: every answer signed in the HSM), interleaved baseline / scale.
    /// </summary>
    public async Task<IReadOnlyList<Figure>> RunAsync()
    {
        var ceremony = EnsureInstall(Home, "all");
        long rows;
        var (settings, database) = Open(Home);
        using (database)
        {
            rows = new SyntheticFill(database, settings).Committed();
        }

        if (rows < BaselineRows)
        {
            throw new InvalidOperationException($"{Home} holds {rows:N0} rows: fill it first (./jpki bench scale fill --rows N{(postgres ? " --postgres" : "")}, at least {BaselineRows:N0})");
        }

        EnsureInstall(BaselineHome, "35");
        var (baseSettings, baseDatabase) = Open(BaselineHome);
        using (baseDatabase)
        {
            new SyntheticFill(baseDatabase, baseSettings).Run(BaselineRows, 10_000, Progress());
        }

        await using var scale = await Responder.StartAsync(Home, Conf, modulePath);
        await using var baseline = await Responder.StartAsync(BaselineHome, Conf, modulePath);
        var figures = new List<Figure> { ceremony };

        // The Zipf mix over every row, then the same over the baseline's rows.
        Console.Error.WriteLine($"ocsp zipf mix over {rows:N0} rows, {window.TotalSeconds:0} s");
        var (zipf, hitRatio) = await scale.ZipfAsync(rows, window);
        var (baseZipf, baseHitRatio) = await baseline.ZipfAsync(BaselineRows, window);
        figures.Add(Figure.Against($"scale ocsp zipf s=1 ({rows:N0} rows)", zipf.AnswersPerSecond, "answers/s", $"same mix, {BaselineRows:N0} rows", baseZipf.AnswersPerSecond));
        figures.Add(Figure.Against($"scale ocsp zipf hit ratio ({rows:N0} rows)", hitRatio * 100, "%", $"{BaselineRows:N0} rows", baseHitRatio * 100));

        // Hit path: the 500 hottest rows, asked once (signed, cached), then again and again.
        // Miss path: rows far down the tail, each asked once (nothing of them is cached).
        Console.Error.WriteLine("ocsp hit path and miss path, baseline and scale interleaved");
        var baseHit = await baseline.HitPathAsync(BaselineRows, window);
        var hit = await scale.HitPathAsync(rows, window);
        var baseMiss = await baseline.MissPathAsync(BaselineRows, window);
        var miss = await scale.MissPathAsync(rows, window);
        figures.Add(Figure.Against($"scale ocsp hit path ({rows:N0} rows)", hit, "answers/s", $"hit path, {BaselineRows:N0} rows (goal ratio ≥ 0.9)", baseHit));
        figures.Add(Figure.Against($"scale ocsp miss path ({rows:N0} rows)", miss, "answers/s", $"miss path, {BaselineRows:N0} rows (goal ratio ≥ 0.9)", baseMiss));
        return figures;
    }

    /// <summary>Makes the install (SoftHSM token, ceremony for <paramref name="prefectures"/>) unless made; the ceremony's time, measured the first time.</summary>
    private Figure EnsureInstall(string home, string prefectures)
    {
        Directory.CreateDirectory(home);
        var tokens = Path.Combine(benchDir, "scale-tokens");
        Directory.CreateDirectory(tokens);
        if (!File.Exists(Conf))
        {
            File.WriteAllText(Conf, $"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
        }

        var record = Path.Combine(home, "ceremony.json");
        if (File.Exists(record))
        {
            // Idempotent: finishes a ceremony cut off halfway; nothing to do otherwise.
            IssuanceBenchmark.RunCeremony(home, Conf, TokenLabel(home), modulePath, "--prefectures", prefectures);
            return JsonSerializer.Deserialize<Figure>(File.ReadAllText(record))!;
        }

        Console.Error.WriteLine($"ceremony: prefectures {prefectures} into {home} (2 issuers each: RSA keys, roots, OCSP responders)");
        var clock = Stopwatch.StartNew();
        IssuanceBenchmark.RunCeremony(home, Conf, TokenLabel(home), modulePath, "--prefectures", prefectures);
        var seconds = clock.Elapsed.TotalSeconds;
        var count = JpkiSettings.Load(home, writeDefaults: false).Prefectures.Count;
        var figure = Figure.Against($"scale ceremony ({count} prefectures, {count * 2} issuers; load {LoadAverage()})", seconds, "s", "per issuer, s", seconds / (count * 2));
        File.WriteAllText(record, JsonSerializer.Serialize(figure, Indented));
        return figure;
    }

    private static string TokenLabel(string home) => "SCALE-" + Path.GetFileName(home).ToUpperInvariant();

    private static (JpkiSettings Settings, Database Database) Open(string home)
    {
        var settings = JpkiSettings.Load(home, writeDefaults: false);
        return (settings, new Database(settings.ConnectionString, TimeProvider.System));
    }

    internal static Action<long, long, double> Progress()
    {
        var last = Stopwatch.StartNew();
        return (held, target, rate) =>
        {
            if (last.Elapsed.TotalSeconds >= 5 || held == target)
            {
                last.Restart();
                var eta = rate > 0 ? TimeSpan.FromSeconds((target - held) / rate) : TimeSpan.Zero;
                Console.Error.WriteLine($"fill: {held:N0} / {target:N0} rows ({100.0 * held / target:0.0}%), {rate:N0} rows/s, {eta:hh\\:mm\\:ss} to go (load {LoadAverage()})");
            }
        };
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

    /// <summary>The OCSP responder of one bench install as a child process, a verifier account's token, and the install's rows.</summary>
    private sealed class Responder : IAsyncDisposable
    {
        private readonly ServiceProcess process;
        private readonly string token;
        private readonly ZipfOcspQueries queries;
        private readonly Database database;

        private Responder(ServiceProcess process, string token, ZipfOcspQueries queries, Database database)
        {
            this.process = process;
            this.token = token;
            this.queries = queries;
            this.database = database;
        }

        public static async Task<Responder> StartAsync(string home, string conf, string modulePath)
        {
            var (settings, database) = Open(home);
            var fill = new SyntheticFill(database, settings);
            var rows = fill.Committed();
            var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            using (var tx = database.BeginWrite())
            {
                AccountStore.Insert(tx, new Account("scale-verifier-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)), AccountRole.Verifier, [], false), AccountStore.TokenHash(secret));
                tx.Commit();
            }

            var process = await ServiceProcess.StartAsync(
                TestInstall.BuiltToolPath("ocsp", "Jpki.Ocsp"),
                new Dictionary<string, string>
                {
                    ["JPKI_HOME"] = home,
                    ["SOFTHSM2_CONF"] = conf,
                    ["JPKI_HSM_TOKEN"] = TokenLabel(home),
                    ["JPKI_PKCS11_MODULE"] = modulePath,
                },
                "OCSP responder listening on ");
            return new Responder(process, secret, new ZipfOcspQueries(fill, rows), database);
        }

        /// <summary>The Zipf mix for the window (8 loops, 200,000 queries drawn), and the hit ratio the responder's counters give.</summary>
        public async Task<(OcspDrive Drive, double HitRatio)> ZipfAsync(long rows, TimeSpan window)
        {
            var mix = queries.Mix((int)Math.Min(200_000, rows), seed: 19);
            var before = await LookupsAsync(0);
            var drive = await ZipfOcspQueries.DriveAsync(process.Address, token, mix, loops: 8, window, repeat: true, check: false);
            var after = await LookupsAsync(before.Hits + before.Misses + drive.Answers);
            var hits = after.Hits - before.Hits;
            var lookups = hits + after.Misses - before.Misses;
            return (drive, lookups > 0 ? hits / lookups : 0);
        }

        public async Task<double> HitPathAsync(long rows, TimeSpan window)
        {
            var hot = Enumerable.Range(1, 500).Select(rank => queries.RowOfRank(rank)).Select(row => new OcspQuery(row, queries.PathOf(row))).ToList();
            var warm = await ZipfOcspQueries.DriveAsync(process.Address, token, hot, loops: 4, window: null, repeat: false, check: true);
            if (warm.Wrong > 0)
            {
                throw new InvalidOperationException($"{warm.Wrong} answers of the hit path's warm-up did not match the store");
            }

            return (await ZipfOcspQueries.DriveAsync(process.Address, token, hot, loops: 8, window, repeat: true, check: false)).AnswersPerSecond;
        }

        public async Task<double> MissPathAsync(long rows, TimeSpan window)
        {
            // Ranks from the far tail of the mix (rank > rows / 2): asked by the Zipf run with a
            // probability of about 1 in 10^4 each; a cached one would only flatter the figure slightly.
            var random = new Random(1919);
            var tail = Enumerable.Range(0, 20_000).Select(_ => queries.RowOfRank(random.NextInt64((rows / 2) + 1, rows + 1))).Distinct().Select(row => new OcspQuery(row, queries.PathOf(row))).ToList();
            var drive = await ZipfOcspQueries.DriveAsync(process.Address, token, tail, loops: 8, window, repeat: false, check: false);
            return drive.AnswersPerSecond;
        }

        private async Task<(double Hits, double Misses)> LookupsAsync(double atLeast)
        {
            using var http = new HttpClient();
            var scrape = await PrometheusText.ScrapeAsync(http, process.Address, s => Sum(s, "hit") + Sum(s, "miss") >= atLeast);
            return (Sum(scrape, "hit"), Sum(scrape, "miss"));
        }

        private static double Sum(PrometheusText scrape, string result) =>
            scrape.Of("jpki_ocsp_cache_lookups_total", "result=" + result).Sum(s => s.Value);

        public async ValueTask DisposeAsync()
        {
            await process.DisposeAsync();
            database.Dispose();
        }
    }
}
