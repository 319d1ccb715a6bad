using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Dapper;
using Jpki.Core.Accounts;
using Jpki.Core.Configuration;
using Jpki.Core.Store;
using Jpki.Testing;

namespace Jpki.Benchmarks;

/// <summary>
/// <c>./jpki bench rollover</c> (issue 17, docs/decisions/0960): a CA's whole life at size. A
/// one-prefecture install (Yamaguchi-ken: two issuers) whose store holds <c>rows</c> synthetic
/// certificates (<see cref="SyntheticFill"/>, 10% revoked) is made once and kept under
/// DIR/rollover-ROWS; each run then, with the real verbs as child processes:
/// <list type="number">
/// <item><c>./jpki backup</c> of it (time, archive size),</item>
/// <item><c>./jpki restore</c> of that archive into a fresh home and token store (time; the
/// restored store must hold the backed-up rows), so the kept install is never changed by what
/// follows and the next run starts from the same state,</item>
/// <item><c>./jpki hsm rollover</c> of the signing issuer on the restored install (time),</item>
/// <item><c>./jpki crl publish</c> there: the first complete CRL of each generation (time of
/// each series' build from the publisher's progress lines, entries).</item>
/// </list>
/// </summary>
public sealed partial class RolloverBenchmark(string benchDir, string modulePath, long rows)
{
    public const string Issuer = "yamaguchi-ken-signing";

    private const string TokenLabel = "ROLLOVER-BENCH";

    private string Root => Path.Combine(benchDir, "rollover-" + rows.ToString(CultureInfo.InvariantCulture));

    private string Home => Path.Combine(Root, "home");

    private string Conf => Path.Combine(Root, "softhsm2.conf");

    private string Escrow => Path.Combine(Root, "escrow");

    /// <summary>The API tokens of the install's two bench officers, one a line: what a restore asks for on standard input.</summary>
    private string OfficerTokens => Path.Combine(Root, "officer-tokens.txt");

    /// <summary>Where one run's archive, restored home and token store go (emptied at the start of every run).</summary>
    private string Run => Path.Combine(Root, "run");

    private string RunHome => Path.Combine(Run, "home");

    private string RunConf => Path.Combine(Run, "softhsm2.conf");

    public IReadOnlyList<Figure> Measure()
    {
        EnsureInstall();
        var (held, revoked) = Fill();
        if (Directory.Exists(Run))
        {
            Directory.Delete(Run, recursive: true);
        }

        Directory.CreateDirectory(Path.Combine(Run, "tokens"));
        File.WriteAllText(RunConf, $"directories.tokendir = {Path.Combine(Run, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
        var storeBytes = new FileInfo(Path.Combine(Home, "jpki.db")).Length;

        // 1. Backup of the kept install.
        var archive = Path.Combine(Run, "site.age");
        var load = LoadAverage();
        var clock = Stopwatch.StartNew();
        Tool(Home, Conf, null, "backup", "--out", archive);
        var backupSeconds = clock.Elapsed.TotalSeconds;
        var archiveBytes = new FileInfo(archive).Length;
        Console.WriteLine($"backup: {backupSeconds:0.0} s, archive {archiveBytes / 1048576.0:0.0} MiB ({archiveBytes} bytes; store {storeBytes / 1048576.0:0.0} MiB) at {held:N0} certificates (load {load})");

        // 2. Restore into a fresh home and token store: what the rest of the run works on.
        var officers = File.ReadAllText(OfficerTokens);
        load = LoadAverage();
        clock.Restart();
        Tool(RunHome, RunConf, officers, "restore", "--from", archive, "--share", Path.Combine(Escrow, "escrow-share-1-of-3.txt"), "--share", Path.Combine(Escrow, "escrow-share-3-of-3.txt"), "--no-witness");
        var restoreSeconds = clock.Elapsed.TotalSeconds;
        var restored = Certificates(RunHome);
        var kept = Certificates(Home);
        Console.WriteLine($"restore: {restoreSeconds:0.0} s, {restored:N0} certificate rows restored of {kept:N0} backed up (load {load})");
        if (restored != kept)
        {
            throw new InvalidOperationException($"the restored store holds {restored:N0} certificate rows, the backed-up one {kept:N0}");
        }

        // 3. The rollover ceremony of the signing issuer, switch at the earliest allowed time.
        var at = DateTimeOffset.UtcNow.AddDays(31).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        load = LoadAverage();
        clock.Restart();
        var rollover = Tool(RunHome, RunConf, null, "hsm", "rollover", "--issuer", Issuer, "--at", at);
        var rolloverSeconds = clock.Elapsed.TotalSeconds;
        var generation = RolloverGeneration().Match(rollover.Stdout + rollover.Stderr) is { Success: true } m ? m.Groups[1].Value : "?";
        Console.WriteLine($"rollover: {rolloverSeconds:0.0} s, {Issuer} to generation {generation}, switch at {at} (load {load})");

        // 4. The first complete CRL of each generation, built by the publisher from the whole store.
        load = LoadAverage();
        clock.Restart();
        var publish = Child(TestInstall.BuiltToolPath("crl-publisher", "Jpki.CrlPublisher"), RunHome, RunConf, null, "crl", "publish");
        var publishSeconds = clock.Elapsed.TotalSeconds;
        if (publish.ExitCode != 0)
        {
            throw new InvalidOperationException("crl publish failed: " + publish);
        }

        var figures = new List<Figure>
        {
            Figure.Against($"rollover.backup.{rows}.seconds", backupSeconds, "s", $"store of {held:N0} certificates, {revoked:N0} revoked", 0),
            Figure.Against($"rollover.backup.{rows}.archive", archiveBytes / 1048576.0, "MiB", "the SQLite store file, MiB", storeBytes / 1048576.0),
            Figure.Against($"rollover.restore.{rows}.seconds", restoreSeconds, "s", "backup, s", backupSeconds),
            Figure.Against($"rollover.ceremony.{rows}.seconds", rolloverSeconds, "s", $"{Issuer} g1 -> g{generation}", 0),
        };
        var times = SeriesTimes(publish.Stderr, publishSeconds);
        foreach (var key in new[] { Issuer + "-g1", Issuer + "-g" + generation })
        {
            var line = publish.Stdout.Split('\n').FirstOrDefault(l => l.StartsWith(key + "/full.crl number ", StringComparison.Ordinal))
                ?? throw new InvalidOperationException($"crl publish did not publish {key}/full.crl:\n{publish.Stdout}");
            var entries = long.Parse(CrlEntries().Match(line).Groups[1].Value, CultureInfo.InvariantCulture);
            var seconds = times.GetValueOrDefault(key + "/full.crl");
            var file = Path.Combine(RunHome, "crl", key, "full.crl");
            Console.WriteLine($"crl {key}/full.crl: {seconds:0.0} s, {entries} entries, {new FileInfo(file).Length / 1048576.0:0.00} MiB, {file} (load {load})");
            figures.Add(Figure.Against($"rollover.crl.{key}.seconds", seconds, "s", $"{entries:N0} entries; crl publish of every series, s", publishSeconds));
        }

        Console.WriteLine($"crl publish: {publishSeconds:0.0} s for every series of the restored install");
        return figures;
    }

    /// <summary>The kept install: a one-prefecture ceremony and the backup escrow, each made once.</summary>
    private void EnsureInstall()
    {
        Directory.CreateDirectory(Home);
        Directory.CreateDirectory(Path.Combine(Root, "tokens"));
        if (!File.Exists(Conf))
        {
            File.WriteAllText(Conf, $"directories.tokendir = {Path.Combine(Root, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
        }

        // Idempotent: finishes a ceremony cut off halfway; nothing to do otherwise.
        Tool(Home, Conf, null, "hsm", "init");
        if (!File.Exists(Path.Combine(Escrow, "escrow-share-3-of-3.txt")))
        {
            if (Directory.Exists(Escrow))
            {
                Directory.Delete(Escrow, recursive: true);
            }

            Tool(Home, Conf, null, "backup", "escrow", "--shares", "3", "--threshold", "2", "--out", Escrow);
        }

        // Two officers, as a restore needs them (a ceremony alone makes no account). Ids with a
        // random tail: a run killed between the store and the file leaves accounts nobody uses.
        if (!File.Exists(OfficerTokens))
        {
            var settings = JpkiSettings.Load(Home, writeDefaults: false);
            using var database = new Database(settings.ConnectionString, TimeProvider.System);
            var tail = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
            var tokens = new List<string>();
            using (var tx = database.BeginWrite())
            {
                foreach (var officer in new[] { "a", "b" })
                {
                    var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
                    AccountStore.Insert(tx, new Account($"bench-officer-{officer}-{tail}", AccountRole.Officer, [], false), AccountStore.TokenHash(token));
                    tokens.Add(token);
                }

                tx.Commit();
            }

            File.WriteAllText(OfficerTokens + ".tmp", string.Join('\n', tokens) + "\n");
            File.SetUnixFileMode(OfficerTokens + ".tmp", UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.Move(OfficerTokens + ".tmp", OfficerTokens);
        }
    }

    private (long Held, long Revoked) Fill()
    {
        var settings = JpkiSettings.Load(Home, writeDefaults: false);
        using var database = new Database(settings.ConnectionString, TimeProvider.System);
        var fill = new SyntheticFill(database, settings);
        Console.Error.WriteLine($"fill: {Home} holds {fill.Committed():N0} synthetic rows; target {rows:N0}");
        var (added, rate) = fill.Run(rows, 50_000, ScaleBenchmark.Progress());
        if (added > 0)
        {
            Console.WriteLine($"fill: added {added:N0} rows at {rate:N0} rows/s (load {LoadAverage()})");
        }

        using var db = database.OpenConnection();
        return (db.QuerySingle<long>("SELECT COUNT(*) FROM certificates"), db.QuerySingle<long>("SELECT COUNT(*) FROM certificates WHERE status = 'revoked'"));
    }

    /// <summary>Each series' build time: from its "building KEY/FILE" progress line to the next line of the publisher.</summary>
    public static Dictionary<string, double> SeriesTimes(string stderr, double total)
    {
        var steps = stderr.Split('\n').Select(l => ProgressLine().Match(l)).Where(m => m.Success)
            .Select(m => (Seconds: double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), What: m.Groups[2].Value.Trim()))
            .ToList();
        var times = new Dictionary<string, double>(StringComparer.Ordinal);
        for (var i = 0; i < steps.Count; i++)
        {
            if (steps[i].What.StartsWith("building ", StringComparison.Ordinal))
            {
                var end = i + 1 < steps.Count ? steps[i + 1].Seconds : total;
                times[steps[i].What["building ".Length..]] = end - steps[i].Seconds;
            }
        }

        return times;
    }

    private ProcessResult Tool(string home, string conf, string? input, params string[] arguments)
    {
        var result = Child(TestInstall.BuiltToolPath("hsm-config", "Jpki.HsmTool"), home, conf, input, arguments);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', arguments.Take(2))} failed ({result.ExitCode}): {result}");
        }

        return result;
    }

    /// <summary>A tool of the repository on one install, with no PIN or store from this process's environment, and time enough for a store of millions of rows.</summary>
    private ProcessResult Child(string dll, string home, string conf, string? input, params string[] arguments)
    {
        var start = ExternalProcess.Start("dotnet", [dll, .. arguments]);
        start.Environment["JPKI_HOME"] = home;
        start.Environment["SOFTHSM2_CONF"] = conf;
        start.Environment["JPKI_HSM_TOKEN"] = TokenLabel;
        start.Environment["JPKI_PKCS11_MODULE"] = modulePath;
        start.Environment.Remove("JPKI_HSM_PIN");
        start.Environment.Remove("JPKI_DB");
        return ExternalProcess.Run(start, input, TimeSpan.FromHours(3));
    }

    private static long Certificates(string home)
    {
        using var database = new Database("Data Source=" + Path.Combine(home, "jpki.db"), TimeProvider.System);
        using var db = database.OpenConnection();
        return db.QuerySingle<long>("SELECT COUNT(*) FROM certificates");
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

    [GeneratedRegex(@"to generation (\d+)")]
    private static partial Regex RolloverGeneration();

    [GeneratedRegex(@" entries (\d+) ")]
    private static partial Regex CrlEntries();

    [GeneratedRegex(@"^\[(?:\d+(?:/\d+)?|done) ([0-9.]+) s\] (.*)$")]
    private static partial Regex ProgressLine();
}
