using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Jpki.JukiNet.Simulator;

namespace Jpki.JukiNet.Tests;

/// <summary>The change generator through its admin endpoint and the feed. One simulator for the class; tests run one at a time.</summary>
public sealed class ChangeGeneratorTests(SimulatorFixture simulator) : IClassFixture<SimulatorFixture>, IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        using var stopped = await simulator.Http.DeleteAsync(new Uri(simulator.BaseAddress, "api/v1/generator"));
    }

    [Fact]
    public async Task Generated_changes_are_valid_of_every_type_consistent_with_the_registry_and_stop_at_the_limit()
    {
        var before = await simulator.LastSequenceAsync();
        var started = await StartAsync("""{"changesPerSecond":400,"limit":400,"seed":9}""");
        Assert.Equal("running", started.GetProperty("state").GetString());

        var status = await WaitUntilNotRunningAsync();

        Assert.Equal("done", status.GetProperty("state").GetString());
        Assert.Equal(400, status.GetProperty("generated").GetInt64());
        Assert.Equal(0, status.GetProperty("refused").GetInt64());
        var client = simulator.Client();
        var page = await client.GetChangesAsync(before, 1000);
        Assert.Empty(page.Malformed);
        Assert.Equal(Enumerable.Range(1, 400).Select(i => before + i), page.Changes.Select(e => e.Sequence));
        Assert.All(page.Changes, e => Assert.Null(e.Check()));
        Assert.Equal(before + 400, page.Last);
        Assert.Equal(Enum.GetValues<ChangeType>().Order(), page.Changes.Select(e => e.Type).Distinct().Order());
        Assert.Contains(page.Changes, e => e.Type == ChangeType.Emigration && e.ContinuedUse == true);
        Assert.Contains(page.Changes, e => e.Type == ChangeType.Emigration && e.ContinuedUse == false);

        // Replaying the whole feed over the generated population gives each record's status and
        // sequence, and no change follows a death or deletion, no move in a registered resident.
        var all = await client.GetChangesAsync(0, 1000);
        Assert.True(all.Changes.Count < 1000, "the feed outgrew one page: read it in pages");
        var statuses = simulator.Population.ToDictionary(r => r.ResidentCode, _ => ResidentStatus.Registered);
        var latest = new Dictionary<ResidentCode, long>();
        foreach (var change in all.Changes.Where(c => statuses.ContainsKey(c.ResidentCode)))
        {
            var was = statuses[change.ResidentCode];
            Assert.True(was is ResidentStatus.Registered or ResidentStatus.MovedOut, $"{change} after {was}");
            Assert.True(change.Type != ChangeType.MoveIn || was == ResidentStatus.MovedOut, $"{change} after {was}");
            statuses[change.ResidentCode] = change.Type switch
            {
                ChangeType.MoveOut => ResidentStatus.MovedOut,
                ChangeType.MoveIn => ResidentStatus.Registered,
                ChangeType.Death => ResidentStatus.Deceased,
                ChangeType.Deletion => ResidentStatus.Deleted,
                ChangeType.Emigration => change.ContinuedUse == true ? ResidentStatus.Registered : ResidentStatus.MovedOut,
                _ => was,
            };
            latest[change.ResidentCode] = change.Sequence;
        }

        Assert.True(latest.Count > 50, $"only {latest.Count} residents changed");
        foreach (var (code, sequence) in latest)
        {
            var record = Assert.IsType<ResidentFound>(await client.LookupAsync(code)).Record;
            Assert.Equal(sequence, record.Sequence);
            Assert.Equal(statuses[code], record.Status);
        }
    }

    [Fact]
    public async Task The_generator_keeps_to_its_rate_and_stops_when_told()
    {
        var before = await simulator.LastSequenceAsync();
        var clock = Stopwatch.StartNew();
        await StartAsync("""{"changesPerSecond":20,"seed":2}""");
        await Task.Delay(TimeSpan.FromMilliseconds(1500));

        using var stopped = await simulator.Http.DeleteAsync(new Uri(simulator.BaseAddress, "api/v1/generator"));
        var elapsed = clock.Elapsed;
        using var body = JsonDocument.Parse(await stopped.Content.ReadAsStringAsync());
        Assert.Equal("stopped", body.RootElement.GetProperty("state").GetString());
        var generated = body.RootElement.GetProperty("generated").GetInt64();
        // Counts, not timing: never more than rate × the time it ran, and it did run.
        Assert.InRange(generated, 1, (long)(20 * elapsed.TotalSeconds));
        Assert.Equal(before + generated, await simulator.LastSequenceAsync());

        await Task.Delay(TimeSpan.FromMilliseconds(300));
        Assert.Equal(before + generated, await simulator.LastSequenceAsync());
        Assert.Equal(generated, (await StatusAsync()).GetProperty("generated").GetInt64());
    }

    [Fact]
    public async Task A_new_start_replaces_the_running_generator()
    {
        await StartAsync("""{"changesPerSecond":1,"seed":3}""");
        var before = await simulator.LastSequenceAsync();

        await StartAsync("""{"changesPerSecond":200,"limit":10,"seed":4}""");
        var status = await WaitUntilNotRunningAsync();

        Assert.Equal(10, status.GetProperty("generated").GetInt64());
        Assert.Equal(200, status.GetProperty("settings").GetProperty("changesPerSecond").GetDouble());
        Assert.InRange(await simulator.LastSequenceAsync() - before, 10, 11); // the slow one may have made one
    }

    [Theory]
    [InlineData("""{"changesPerSecond":0}""", "changesPerSecond must be above 0")]
    [InlineData("""{"changesPerSecond":5001}""", "at most 5000")]
    [InlineData("""{"changesPerSecond":10,"limit":0}""", "limit must be at least 1")]
    [InlineData("""{"changesPerSecond":10,"rate":5}""", "malformed body")]
    public async Task Invalid_generator_settings_are_400_problem(string body, string reason)
    {
        using var answer = await simulator.SendJsonAsync(HttpMethod.Post, "api/v1/generator", body);
        var text = await answer.Content.ReadAsStringAsync();
        Assert.True(answer.StatusCode == HttpStatusCode.BadRequest, text);
        Assert.Contains(reason, text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, 100, 1000, 0)]
    [InlineData(999, 100, 1000, 99)]
    [InlineData(1000, 100, 1000, 100)]
    [InlineData(10_000, 100, 50, 50)]
    [InlineData(1500, 0.5, 1000, 0)]
    [InlineData(2000, 0.5, 1000, 1)]
    public void Changes_due_follow_rate_times_elapsed_up_to_the_limit(int elapsedMs, double rate, long limit, long expected) =>
        Assert.Equal(expected, ChangeGenerator.ChangesDue(TimeSpan.FromMilliseconds(elapsedMs), rate, limit));

    [Theory]
    [InlineData(0.5, 1000)]
    [InlineData(10, 100)]
    [InlineData(5000, 20)]
    public void Ticks_are_one_change_apart_between_20_ms_and_1_s(double rate, int expectedMs) =>
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), ChangeGenerator.TickPeriod(rate));

    [Fact]
    public void Drawn_changes_pass_the_rules_for_every_status_that_can_change()
    {
        var random = new Random(1);
        var today = new DateOnly(2026, 11, 22);
        var types = new HashSet<ChangeType>();
        foreach (var status in new[] { ResidentStatus.Registered, ResidentStatus.MovedOut })
        {
            foreach (var resident in simulator.Population)
            {
                var record = resident with { Status = status };
                var drawn = RandomChanges.Draw(record, random, today);
                var decision = ChangeRules.Decide(drawn.Request, record.ResidentCode, drawn.Type, drawn.EffectiveDate, drawn.DateOfBirth, record);
                Assert.True(decision.Refusal is null, $"{drawn.Type} for a {status} resident: {decision.Refusal}");
                Assert.InRange(drawn.EffectiveDate, today.AddDays(-14), today);
                types.Add(drawn.Type);
            }
        }

        Assert.Equal(Enum.GetValues<ChangeType>().Order(), types.Order());
        Assert.Throws<ArgumentException>(() => RandomChanges.Draw(simulator.Population[0] with { Status = ResidentStatus.Deceased }, random, today));
    }

    private async Task<JsonElement> StartAsync(string settings)
    {
        using var answer = await simulator.SendJsonAsync(HttpMethod.Post, "api/v1/generator", settings);
        var text = await answer.Content.ReadAsStringAsync();
        Assert.True(answer.StatusCode == HttpStatusCode.Accepted, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private async Task<JsonElement> StatusAsync() =>
        JsonDocument.Parse(await simulator.Http.GetStringAsync(new Uri(simulator.BaseAddress, "api/v1/generator"))).RootElement.Clone();

    private async Task<JsonElement> WaitUntilNotRunningAsync()
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Deadline)
        {
            var status = await StatusAsync();
            if (status.GetProperty("state").GetString() != "running")
            {
                return status;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"the generator still runs after {Deadline}");
        return default;
    }
}
