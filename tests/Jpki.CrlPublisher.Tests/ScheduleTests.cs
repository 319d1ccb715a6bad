using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dapper;
using Jpki.Core.Store;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Quartz;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// The schedule as the publisher process runs it, with Quartz firing by itself: the in-memory job
/// store on SQLite (and the health alarm it drives), the clustered job store on PostgreSQL with two
/// nodes on one store. Each node is a real host on its own store seeded with the fixture's keys.
/// </summary>
[Collection(CrlTestGroup.Name)]
public sealed class SqliteScheduleTests(CrlFixture crl, SqliteStoreFixture stores) : IClassFixture<SqliteStoreFixture>
{
    [Fact]
    public async Task OnSqliteTheInMemoryScheduleFiresDeltasByItselfOnTheirBoundaries()
    {
        var store = stores.CreateStore("fires");
        PublisherNode.Seed(crl, store);
        var settings = PublisherNode.SettingsFor(crl, store, Path.Combine(stores.ScratchDirectory, "fires"), c => c with { DeltaEveryMinutes = 1.0 / 60 });
        List<PublicationRecord> fired = [];
        await using (var node = await PublisherNode.StartAsync(crl, settings, "sqlite-node"))
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (DateTime.UtcNow < deadline && fired.Count < 3)
            {
                await Task.Delay(200);
                fired = PublicationLog.Read(store).Where(p => p.Kind == "delta" && p.FiredAtUs is not null).ToList();
            }

            await node.StopAsync();
            Assert.True(fired.Count >= 3, $"Quartz fired {fired.Count} delta runs in 30 s:\n{string.Join('\n', node.Log.Lines.TakeLast(30))}");
            var runs = ScheduleClusterTests.JobRuns(node.Log);
            Assert.All(fired, p => Assert.Contains(runs, r => r.FireTimeUs == p.FiredAtUs && r.Node == p.Node));
        }

        var all = PublicationLog.Read(store).Where(p => p.Kind == "delta" && p.FiredAtUs is not null).ToList();
        Assert.All(all, p => Assert.Equal("full", p.Scope));
        Assert.All(all, p => Assert.Equal(0, p.FiredAtUs!.Value % 1_000_000));
        Assert.Equal(all.Count, all.Select(p => p.FiredAtUs).Distinct().Count());
        Assert.Single(all.Select(p => p.Node).Distinct());
        var numbers = PublicationLog.Read(store).Where(p => p.Scope == "full").Select(p => p.Number).ToList();
        Assert.Equal(numbers.Order(), numbers);
        Assert.Equal(numbers.Count, numbers.Distinct().Count());
        var deltaFile = Path.Combine(settings.Resolve(settings.Crl.Directory), CrlFixture.SigningKey, "delta.crl");
        Assert.Equal(all[^1].Sha256, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(deltaFile))));
    }

    [Fact]
    public async Task HealthSaysDegradedOverHttpWhenNothingNewerExistsAt75PercentOfValidityAndTheWatchAuditsTheAlarmOnce()
    {
        var store = stores.CreateStore("stale");
        PublisherNode.Seed(crl, store);
        // Complete CRLs valid 12 s (75%: 9 s), nothing scheduled before the deadline, the watch every second.
        var settings = PublisherNode.SettingsFor(crl, store, Path.Combine(stores.ScratchDirectory, "stale"), c => c with { CompleteValidityHours = 12.0 / 3600, WatchEverySeconds = 1 });
        await using var node = await PublisherNode.StartAsync(crl, settings, "stale-node");
        var complete = PublicationLog.Read(store).Single(p => p.Scope == "full" && p.Kind == "complete");
        long thisUpdateUs, nextUpdateUs;
        using (var database = new Database(store, TimeProvider.System))
        using (var db = database.OpenConnection())
        {
            (thisUpdateUs, nextUpdateUs) = db.QuerySingle<(long, long)>("SELECT this_update_us, next_update_us FROM crls WHERE issuer_key_id = @SigningKey AND scope = 'full' AND number = @Number", new { CrlFixture.SigningKey, complete.Number });
        }

        Assert.Equal(12_000_000, nextUpdateUs - thisUpdateUs);
        var deadline = Instant.FromMicros(thisUpdateUs + 9_000_000);
        using var http = new HttpClient { BaseAddress = node.Address };

        // Other series of the install (the authentication key's, a later generation's) may have been
        // published a second earlier and go stale first: the test follows the signing key's full CRL.
        var first = CrlFixture.Json(await http.GetStringAsync("healthz"));
        if (DateTimeOffset.UtcNow < deadline)
        {
            Assert.False(SigningFullIsStale(first), first.ToString());
        }

        var health = first;
        var until = DateTime.UtcNow.AddSeconds(30);
        while (!SigningFullIsStale(health) && DateTime.UtcNow < until)
        {
            await Task.Delay(250);
            health = CrlFixture.Json(await http.GetStringAsync("healthz"));
        }

        Assert.True(DateTimeOffset.UtcNow >= deadline, health.ToString());
        Assert.Equal("degraded", health.GetProperty("status").GetString());
        Assert.Equal("Healthy", health.GetProperty("hsm").GetString());
        var stale = health.GetProperty("stale").EnumerateArray().Single(s => s.GetProperty("issuerKeyId").GetString() == CrlFixture.SigningKey && s.GetProperty("scope").GetString() == "full" && s.GetProperty("kind").GetString() == "complete");
        Assert.Equal(CrlFixture.SigningKey, stale.GetProperty("issuerKeyId").GetString());
        Assert.Equal(complete.Number, stale.GetProperty("number").GetInt64());
        Assert.Equal(deadline, stale.GetProperty("deadline").GetDateTimeOffset());

        var alarms = await AlarmsAsync(store, complete.Number, atLeast: 1);
        Assert.Single(alarms);
        Assert.Equal(Instant.ToMicros(deadline), CrlFixture.Json(alarms[0]).GetProperty("deadline").GetInt64());
        await Task.Delay(TimeSpan.FromSeconds(2)); // two more watch runs: still one alarm for that CRL
        Assert.Single(await AlarmsAsync(store, complete.Number, atLeast: 1));
    }

    private static bool SigningFullIsStale(JsonElement health) =>
        health.TryGetProperty("stale", out var stale) && stale.ValueKind == JsonValueKind.Array
        && stale.EnumerateArray().Any(s => s.GetProperty("issuerKeyId").GetString() == CrlFixture.SigningKey && s.GetProperty("scope").GetString() == "full" && s.GetProperty("kind").GetString() == "complete");

    [Fact]
    public async Task AnIssuerKeyAddedWhileThePublisherRunsGetsItsCrlsAndIsServedWithoutARestart()
    {
        const string NewKey = "yamaguchi-ken-authentication-g1";
        var store = stores.CreateStore("newkey");
        PublisherNode.Seed(crl, store, issuerKeys: id => id != NewKey);
        var settings = PublisherNode.SettingsFor(crl, store, Path.Combine(stores.ScratchDirectory, "newkey"), c => c with { WatchEverySeconds = 1, AllowedNetworks = ["127.0.0.1/32"] });
        await using var node = await PublisherNode.StartAsync(crl, settings, "newkey-node");
        using var http = new HttpClient { BaseAddress = node.Address };
        using (var served = await http.GetAsync($"crl/{CrlFixture.SigningKey}/full.crl"))
        using (var unknown = await http.GetAsync($"crl/{NewKey}/full.crl"))
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        }

        Assert.DoesNotContain(PublicationLog.ReadAll(store), p => p.IssuerKeyId == NewKey);

        PublisherNode.AddIssuerKey(crl, store, NewKey);
        var until = DateTime.UtcNow.AddSeconds(30);
        HttpResponseMessage response;
        while ((response = await http.GetAsync($"crl/{NewKey}/full.crl")).StatusCode != HttpStatusCode.OK && DateTime.UtcNow < until)
        {
            response.Dispose();
            await Task.Delay(250);
        }

        using (response)
        {
            Assert.True(response.StatusCode == HttpStatusCode.OK, string.Join('\n', node.Log.Lines.Where(l => !l.StartsWith("Trace", StringComparison.Ordinal) && !l.StartsWith("Debug", StringComparison.Ordinal)).TakeLast(20)));
            var path = Path.Combine(stores.ScratchDirectory, "newkey-full.crl");
            await File.WriteAllBytesAsync(path, await response.Content.ReadAsByteArrayAsync());
            var verify = ExternalProcess.Run("openssl", "crl", "-inform", "DER", "-in", path, "-CAfile", crl.Ca.RootPemPath(NewKey), "-noout", "-verify");
            Assert.True(verify.ExitCode == 0 && verify.Output.Contains("verify OK", StringComparison.Ordinal), verify.Output);
        }

        var published = PublicationLog.ReadAll(store).Where(p => p.IssuerKeyId == NewKey).ToList();
        Assert.Contains(published, p => p.Scope == "full" && p.Kind == "complete");
        Assert.Contains(published, p => p.Scope == "arl" && p.Kind == "complete");
        Assert.Contains(node.Log.Lines, l => l.Contains($"issuer keys {NewKey} now sign CRLs", StringComparison.Ordinal));
    }

    private static async Task<List<string>> AlarmsAsync(string store, long number, int atLeast)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using (var database = new Database(store, TimeProvider.System))
            using (var db = database.OpenConnection())
            {
                var alarms = db.Query<string>("SELECT details FROM audit_log WHERE action = 'crl.alarm.stale' AND subject = @subject ORDER BY seq", new { subject = $"{CrlFixture.SigningKey}/full" })
                    .Where(d => CrlFixture.Json(d).GetProperty("number").GetInt64() == number && CrlFixture.Json(d).GetProperty("kind").GetString() == "complete")
                    .ToList();
                if (alarms.Count >= atLeast || DateTime.UtcNow > until)
                {
                    return alarms;
                }
            }

            await Task.Delay(250);
        }
    }
}

/// <summary>The schedule as it is stored in a job store, without firing.</summary>
public sealed class CrlScheduleInstallTests
{
    /// <summary>
    /// Quartz 4 moves the start of a simple trigger stored with a start in the past to the moment it
    /// is stored, which put every later firing off the boundaries (a cluster test under load fired
    /// deltas at .030349 s past them). A clock 10 s behind Quartz's makes every boundary the schedule
    /// takes with a short lead a past one by the time Quartz has the trigger.
    /// </summary>
    [Fact]
    public async Task EveryTriggerIsStoredToStartOnABoundaryInTheFutureEvenWhenTheFirstBoundaryHasPassedWhenItIsStored()
    {
        var services = new ServiceCollection();
        services.AddQuartz(q =>
        {
            q.ConfigureScheduler(s => s.InstanceName = "install-" + Guid.NewGuid().ToString("N"));
            q.UseInMemoryStore();
        });
        await using var provider = services.BuildServiceProvider();
        var scheduler = await provider.GetRequiredService<ISchedulerFactory>().GetScheduler();
        var schedule = new CrlSchedule(TimeSpan.FromHours(24), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1));
        try
        {
            await schedule.InstallAsync(scheduler, new LaggingClock(TimeSpan.FromSeconds(10)), CancellationToken.None);
            foreach (var (key, every) in new[] { (CrlSchedule.DeltaJob, schedule.DeltaEvery), (CrlSchedule.WatchJob, schedule.WatchEvery) })
            {
                var trigger = Assert.Single(await scheduler.GetTriggersOfJob(key));
                Assert.True(CrlSchedule.IsBoundary(trigger.StartTimeUtc, every), $"{key} starts at {trigger.StartTimeUtc:O}");
                Assert.Equal(trigger.StartTimeUtc, trigger.NextFireTimeUtc);
                Assert.True(trigger.StartTimeUtc > DateTimeOffset.UtcNow, $"{key} starts at {trigger.StartTimeUtc:O}");
            }
        }
        finally
        {
            await scheduler.Shutdown();
        }
    }

    private sealed class LaggingClock(TimeSpan lag) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() - lag;
    }
}

/// <summary>Two publisher nodes on one PostgreSQL store form one Quartz cluster.</summary>
[Collection(CrlTestGroup.Name)]
public sealed partial class ScheduleClusterTests(CrlFixture crl, PostgresStoreFixture stores) : IClassFixture<PostgresStoreFixture>
{
    /// <summary>A password in the connection string (the test server trusts loopback, so it is never sent): it must appear in no log line.</summary>
    private const string Canary = "canary-Pa55word-never-logged";

    /// <summary>The scheduled job runs a host logged: (fire time in µs, node).</summary>
    public static IReadOnlyList<(long FireTimeUs, string Node)> JobRuns(LogLines log)
    {
        ArgumentNullException.ThrowIfNull(log);
        return log.Lines.Select(l => JobRunLine().Match(l)).Where(m => m.Success)
            .Select(m => (Instant.ToMicros(DateTimeOffset.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)), m.Groups[2].Value))
            .ToList();
    }

    [Fact]
    public async Task TwoNodesOnOneStorePublishEachScheduledDeltaOnceAndTheSecondCarriesOnWhenTheFirstStops()
    {
        var store = new NpgsqlConnectionStringBuilder(stores.CreateStore("cluster")) { Password = Canary }.ToString();
        PublisherNode.Seed(crl, store);
        // Both nodes share the store and, as the instances of a cluster must, the CRL and archive directories.
        var settings = PublisherNode.SettingsFor(crl, store, Path.Combine(stores.ScratchDirectory, "cluster"), c => c with { DeltaEveryMinutes = 2.0 / 60 });
        await using var first = await PublisherNode.StartAsync(crl, settings, "node-a");
        await using var second = await PublisherNode.StartAsync(crl, settings, "node-b");

        var nodes = await PollAsync(() => Query<string>(store, "SELECT instance_name FROM qrtz_scheduler_state WHERE sched_name = @name ORDER BY instance_name", new { name = CrlHost.SchedulerName }), n => n.Count == 2);
        Assert.Equal(2, nodes.Count);
        await Task.Delay(TimeSpan.FromSeconds(12));

        await first.StopAsync();
        var stoppedAtUs = Instant.ToMicros(DateTimeOffset.UtcNow);
        var afterStop = await PollAsync(() => Deltas(store).Where(p => p.FiredAtUs > stoppedAtUs).ToList(), d => d.Count >= 2);
        await second.StopAsync();

        var diagnostics = string.Join('\n', first.Log.Lines.Concat(second.Log.Lines).Where(l => l.Contains("ran on node", StringComparison.Ordinal) || l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Warning", StringComparison.Ordinal)).TakeLast(60));
        Assert.True(afterStop.Count >= 2, "the second node did not carry on:\n" + diagnostics);
        Assert.All(afterStop, p => Assert.NotEqual(NodeOf(first), p.Node));
        Assert.All(afterStop, p => Assert.Equal(NodeOf(second), p.Node));

        // Each scheduled fire time ran once across the cluster and published once.
        var deltas = Deltas(store);
        Assert.True(deltas.Select(p => p.FiredAtUs).Distinct().Count() >= 6, diagnostics);
        Assert.All(deltas.GroupBy(p => p.FiredAtUs), g => Assert.True(g.Count() == 1, $"fire time {g.Key} published {g.Count()} times\n{diagnostics}"));
        Assert.All(deltas, p => Assert.Equal(0, p.FiredAtUs!.Value % 2_000_000));
        Assert.All(deltas, p => Assert.Contains(p.Node, nodes));
        var runs = JobRuns(first.Log).Concat(JobRuns(second.Log)).ToList();
        Assert.All(runs.GroupBy(r => r.FireTimeUs), g => Assert.True(g.Count() == 1, $"fire time {g.Key} ran on {string.Join(", ", g.Select(r => r.Node))}\n{diagnostics}"));
        Assert.All(deltas, p => Assert.Contains((p.FiredAtUs!.Value, p.Node!), runs));

        // Strictly increasing numbers across both nodes, in the order the store recorded them.
        var numbers = PublicationLog.Read(store).Where(p => p.Scope == "full").Select(p => p.Number).ToList();
        Assert.Equal(numbers.Order(), numbers);
        Assert.Equal(numbers.Count, numbers.Distinct().Count());
        Assert.Equal(numbers.Count, Query<long>(store, "SELECT number FROM crls WHERE issuer_key_id = @SigningKey AND scope = 'full'", new { CrlFixture.SigningKey }).Count);

        // The published delta is the newest one, whichever node wrote it.
        var deltaFile = Path.Combine(settings.Resolve(settings.Crl.Directory), CrlFixture.SigningKey, "delta.crl");
        Assert.Equal(deltas[^1].Sha256, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(deltaFile))));

        // The store's password went to Quartz and Npgsql only.
        Assert.DoesNotContain(first.Log.Lines.Concat(second.Log.Lines), l => l.Contains(Canary, StringComparison.Ordinal));
    }

    [Fact]
    public void TheQuartzSchemaScriptIsTheOneTheQuartzAssemblyCarries()
    {
        using var stream = typeof(Quartz.IScheduler).Assembly.GetManifestResourceStream("Quartz.Impl.AdoJobStore.Schema.create_postgres.sql");
        Assert.NotNull(stream);
        var quartz = QuartzJobStoreSchema.Fill(new StreamReader(stream).ReadToEnd().Replace("\r\n", "\n", StringComparison.Ordinal));
        Assert.EndsWith(quartz, QuartzJobStoreSchema.Script(), StringComparison.Ordinal);
    }

    [Fact]
    public void TheQuartzTablesAreCreatedOnceAndApplyingTheScriptAgainChangesNothing()
    {
        var store = stores.CreateStore("schema");
        using var database = new Database(store, TimeProvider.System);
        Migrator.ApplyPending(database);
        Parallel.For(0, 3, _ => QuartzJobStoreSchema.Apply(database));
        var tables = Query<string>(store, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE 'qrtz\\_%' ORDER BY table_name", null);
        Assert.Contains("qrtz_locks", tables);
        Assert.Contains("qrtz_triggers", tables);
        Assert.Contains("qrtz_scheduler_state", tables);
        QuartzJobStoreSchema.Apply(database);
        Assert.Equal(tables, Query<string>(store, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE 'qrtz\\_%' ORDER BY table_name", null));
        Assert.DoesNotContain(Query<string>(store, "SELECT name FROM schema_migrations", null), n => n.Contains("quartz", StringComparison.OrdinalIgnoreCase));
    }

    private static List<PublicationRecord> Deltas(string store) =>
        PublicationLog.Read(store).Where(p => p.Kind == "delta" && p.FiredAtUs is not null).ToList();

    private static string NodeOf(PublisherNode node) =>
        node.Log.Lines.Select(l => InstalledLine().Match(l)).First(m => m.Success).Groups[1].Value;

    private static List<T> Query<T>(string store, string sql, object? parameters)
    {
        using var database = new Database(store, TimeProvider.System);
        using var db = database.OpenConnection();
        return db.Query<T>(sql, parameters).AsList();
    }

    private static async Task<T> PollAsync<T>(Func<T> read, Func<T, bool> done)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        var value = read();
        while (!done(value) && DateTime.UtcNow < until)
        {
            await Task.Delay(200);
            value = read();
        }

        return value;
    }

    [GeneratedRegex(@"delta CRLs due (\S+) ran on node (\S+): published")]
    private static partial Regex JobRunLine();

    [GeneratedRegex(@"CRL schedule installed on node (\S+) of")]
    private static partial Regex InstalledLine();
}
