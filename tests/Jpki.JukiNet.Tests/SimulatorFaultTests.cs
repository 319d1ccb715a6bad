using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Jpki.JukiNet.Simulator;

namespace Jpki.JukiNet.Tests;

/// <summary>
/// The simulator's fault switches, each observed through <see cref="JukiNetClient"/> as the CA's
/// subscriber will see it. The tests of this class share one simulator and run one at a time;
/// each appends its own events and clears the switches when done.
/// </summary>
public sealed class SimulatorFaultTests(SimulatorFixture simulator) : IClassFixture<SimulatorFixture>, IAsyncLifetime
{
    private const string ProblemJson = "application/problem+json";

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => simulator.ClearFaultsAsync();

    [Fact]
    public async Task Faults_are_set_read_and_cleared_with_defaults_filled_in()
    {
        var set = await simulator.SetFaultsAsync("""{"seed":7,"late":0.25,"slowMs":5}""");
        var faults = set.GetProperty("faults");
        Assert.Equal(
            ["seed", "duplicates", "late", "lateReleaseAfterPolls", "lateReleaseAfterMs", "reorder", "malformed", "unknownResidents", "outageRequests", "outageMs", "outage", "slowMs"],
            faults.EnumerateObject().Select(p => p.Name));
        Assert.Equal(7, faults.GetProperty("seed").GetInt32());
        Assert.Equal(0.25, faults.GetProperty("late").GetDouble());
        Assert.Equal(3, faults.GetProperty("lateReleaseAfterPolls").GetInt32());
        Assert.Equal("unavailable", faults.GetProperty("outage").GetString());
        Assert.Equal(0, set.GetProperty("withheld").GetInt32());
        Assert.False(set.TryGetProperty("outageUntil", out _));

        var read = await simulator.FaultStateAsync();
        Assert.Equal(faults.GetRawText(), read.GetProperty("faults").GetRawText());

        using var cleared = await simulator.Http.DeleteAsync(new Uri(simulator.BaseAddress, "api/v1/faults"));
        using var body = JsonDocument.Parse(await cleared.Content.ReadAsStringAsync());
        Assert.Equal(0, body.RootElement.GetProperty("faults").GetProperty("late").GetDouble());
        Assert.Equal(0, body.RootElement.GetProperty("faults").GetProperty("slowMs").GetInt32());
    }

    [Theory]
    [InlineData("""{"duplicates":1.5}""", "duplicates must be a fraction")]
    [InlineData("""{"late":-0.1}""", "late must be a fraction")]
    [InlineData("""{"slowMs":30001}""", "slowMs must be 0-30000")]
    [InlineData("""{"lateReleaseAfterPolls":0}""", "lateReleaseAfterPolls")]
    [InlineData("""{"outageMs":600001}""", "outageMs")]
    [InlineData("""{"outage":"explode"}""", "malformed body")]
    [InlineData("""{"duplicate":0.1}""", "malformed body")]
    [InlineData("""{"seed":"1"}""", "malformed body")]
    [InlineData("[]", "malformed body")]
    public async Task Invalid_faults_are_400_problem_and_change_nothing(string body, string reason)
    {
        await simulator.SetFaultsAsync("""{"reorder":0.5}""");
        using var answer = await simulator.SendJsonAsync(HttpMethod.Put, "api/v1/faults", body);
        var text = await answer.Content.ReadAsStringAsync();
        Assert.True(answer.StatusCode == HttpStatusCode.BadRequest, text);
        Assert.Equal(ProblemJson, answer.Content.Headers.ContentType?.MediaType);
        Assert.Contains(reason, text, StringComparison.Ordinal);
        Assert.Equal(0.5, (await simulator.FaultStateAsync()).GetProperty("faults").GetProperty("reorder").GetDouble());
    }

    [Fact]
    public async Task Duplicates_repeat_events_within_a_page_and_from_earlier_pages()
    {
        var posted = await AppendChangesAsync(60);
        await simulator.SetFaultsAsync("""{"seed":2,"duplicates":0.5}""");

        var pages = await SubscribeAsync(posted, limit: 8);

        var delivered = pages.SelectMany(p => p.Page.Changes).ToList();
        Assert.Equal(posted.Keys.Order(), delivered.Select(e => e.Sequence).Where(posted.ContainsKey).Distinct().Order());
        Assert.All(pages, p => Assert.Empty(p.Page.Malformed));
        // The same sequence twice in one page, with the same content.
        var twice = pages.SelectMany(p => p.Page.Changes.GroupBy(e => e.Sequence).Where(g => g.Count() > 1)).ToList();
        Assert.NotEmpty(twice);
        Assert.All(twice, g => Assert.Single(g.Select(Json).Distinct()));
        // A page repeating what an earlier page delivered: sequence ≤ after.
        var replayed = pages.SelectMany(p => p.Page.Changes.Where(e => e.Sequence <= p.After)).ToList();
        Assert.NotEmpty(replayed);
        Assert.All(replayed, e => Assert.Equal(Json(delivered.First(d => d.Sequence == e.Sequence)), Json(e)));
    }

    [Fact]
    public async Task Late_events_leave_a_gap_and_arrive_later_below_after()
    {
        var posted = await AppendChangesAsync(60);
        await simulator.SetFaultsAsync("""{"seed":3,"late":0.25,"lateReleaseAfterPolls":2}""");

        var pages = await SubscribeAsync(posted, limit: 10);

        var delivered = pages.SelectMany(p => p.Page.Changes).ToList();
        Assert.Equal(posted.Keys.Order(), delivered.Select(e => e.Sequence).Order()); // each exactly once
        var late = pages.SelectMany((p, index) => p.Page.Changes.Where(e => e.Sequence < p.After).Select(e => (Event: e, Index: index))).ToList();
        Assert.NotEmpty(late);
        foreach (var (change, index) in late)
        {
            // Before it came, a later event had come: the subscriber saw a gap.
            Assert.Contains(pages.Take(index).SelectMany(p => p.Page.Changes), e => e.Sequence > change.Sequence);
            Assert.DoesNotContain(pages.Take(index).SelectMany(p => p.Page.Changes), e => e.Sequence == change.Sequence);
            Assert.Equal(posted[change.Sequence], change.ResidentCode);
        }
    }

    [Fact]
    public async Task Late_events_are_released_when_their_time_is_up()
    {
        var posted = await AppendChangesAsync(5);
        var from = posted.Keys.Min() - 1;
        await simulator.SetFaultsAsync("""{"late":1,"lateReleaseAfterPolls":1000,"lateReleaseAfterMs":5000}""");
        var client = simulator.Client();

        for (var poll = 0; poll < 3; poll++)
        {
            Assert.Empty((await client.GetChangesAsync(from, 100)).Changes);
        }

        Assert.Equal(5, (await simulator.FaultStateAsync()).GetProperty("withheld").GetInt32());
        simulator.Clock.Advance(TimeSpan.FromMilliseconds(4999));
        Assert.Empty((await client.GetChangesAsync(from, 100)).Changes);
        simulator.Clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(posted.Keys.Order(), (await client.GetChangesAsync(from, 100)).Changes.Select(e => e.Sequence));
    }

    [Fact]
    public async Task Clearing_the_faults_delivers_withheld_events_with_the_next_answer()
    {
        var posted = await AppendChangesAsync(6);
        var last = posted.Keys.Max();
        await simulator.SetFaultsAsync("""{"late":1,"lateReleaseAfterPolls":1000}""");
        var client = simulator.Client();
        Assert.Empty((await client.GetChangesAsync(posted.Keys.Min() - 1, 100)).Changes);

        using var cleared = await simulator.Http.DeleteAsync(new Uri(simulator.BaseAddress, "api/v1/faults"));
        using var state = JsonDocument.Parse(await cleared.Content.ReadAsStringAsync());
        Assert.Equal(6, state.RootElement.GetProperty("dueForDelivery").GetInt32());

        Assert.Equal(posted.Keys.Order(), (await client.GetChangesAsync(last, 100)).Changes.Select(e => e.Sequence));
        Assert.Empty((await client.GetChangesAsync(last, 100)).Changes);
    }

    [Fact]
    public async Task Reorder_shuffles_the_page_and_clearing_sorts_it_again()
    {
        var posted = await AppendChangesAsync(30);
        var from = posted.Keys.Min() - 1;
        await simulator.SetFaultsAsync("""{"seed":4,"reorder":1}""");
        var client = simulator.Client();

        var shuffled = (await client.GetChangesAsync(from, 30)).Changes.Select(e => e.Sequence).ToList();
        Assert.NotEqual(shuffled.Order(), shuffled);
        Assert.Equal(posted.Keys.Order(), shuffled.Order());

        await simulator.ClearFaultsAsync();
        var sorted = (await client.GetChangesAsync(from, 30)).Changes.Select(e => e.Sequence).ToList();
        Assert.Equal(posted.Keys.Order(), sorted);
    }

    [Fact]
    public async Task Malformed_entries_land_in_Malformed_most_with_their_sequence()
    {
        var posted = await AppendChangesAsync(100);
        await simulator.SetFaultsAsync("""{"seed":5,"malformed":0.4}""");

        var pages = await SubscribeAsync(posted, limit: 50, untilCursorPassesAll: true);

        var valid = pages.SelectMany(p => p.Page.Changes).ToList();
        var malformed = pages.SelectMany(p => p.Page.Malformed).ToList();
        Assert.Equal(100, valid.Count + malformed.Count);
        Assert.InRange(malformed.Count, 20, 60);
        var numbered = malformed.Where(m => m.Sequence is not null).ToList();
        Assert.True(numbered.Count * 2 > malformed.Count, $"{numbered.Count} of {malformed.Count} malformed entries keep their sequence");
        // Each event came once, valid or not; those that lost their sequence are the ones missing.
        var accounted = valid.Select(e => e.Sequence).Concat(numbered.Select(m => m.Sequence!.Value)).ToList();
        Assert.Equal(accounted.Count, accounted.Distinct().Count());
        Assert.Subset(posted.Keys.ToHashSet(), accounted.ToHashSet());
        Assert.Equal(posted.Count - accounted.Count, malformed.Count - numbered.Count);
        Assert.All(valid, e => Assert.Equal(posted[e.Sequence], e.ResidentCode));

        // Every corruption shape is there.
        Assert.Contains(malformed, m => m.RawJson.Contains("\"teleport\"", StringComparison.Ordinal));
        Assert.Contains(malformed, m => m.RawJson.Contains("2026-02-30", StringComparison.Ordinal));
        Assert.Contains(malformed, m => m.Reason.Contains("check digit", StringComparison.Ordinal));
        Assert.Contains(malformed, m => m.Sequence is null);
        // A missing required value: the type's own values, or the effective date of a type that carries none.
        Assert.Contains(malformed, m => m.Reason.Contains(" needs ", StringComparison.Ordinal) || (m.Sequence is not null && !m.RawJson.Contains("effectiveDate", StringComparison.Ordinal)));

        await simulator.ClearFaultsAsync();
        var clean = await simulator.Client().GetChangesAsync(posted.Keys.Min() - 1, 100);
        Assert.Empty(clean.Malformed);
        Assert.Equal(posted.Keys.Order(), clean.Changes.Select(e => e.Sequence));
    }

    [Fact]
    public async Task Unknown_residents_have_valid_codes_that_the_lookup_does_not_find()
    {
        var posted = await AppendChangesAsync(40);
        await simulator.SetFaultsAsync("""{"seed":6,"unknownResidents":0.3}""");
        var client = simulator.Client();

        var page = await client.GetChangesAsync(posted.Keys.Min() - 1, 40);

        Assert.Empty(page.Malformed);
        Assert.Equal(posted.Keys.Order(), page.Changes.Select(e => e.Sequence));
        var strangers = page.Changes.Where(e => e.ResidentCode != posted[e.Sequence]).ToList();
        Assert.InRange(strangers.Count, 4, 24);
        foreach (var change in strangers)
        {
            Assert.True(ResidentCode.TryParse(change.ResidentCode.Digits, out _, out _)); // the check digit is right
            Assert.IsType<ResidentNotFound>(await client.LookupAsync(change.ResidentCode));
        }

        foreach (var change in page.Changes.Except(strangers).Take(5))
        {
            Assert.IsType<ResidentFound>(await client.LookupAsync(change.ResidentCode));
        }

        // The same sequence gets the same stranger each time.
        var again = await client.GetChangesAsync(posted.Keys.Min() - 1, 40);
        Assert.Equal(page.Changes.Select(e => e.ResidentCode), again.Changes.Select(e => e.ResidentCode));
    }

    [Fact]
    public async Task A_counted_outage_makes_the_client_give_up_after_its_attempts_then_passes()
    {
        var resident = simulator.Population[1].ResidentCode;
        await simulator.SetFaultsAsync("""{"outageRequests":3}""");

        var error = await Assert.ThrowsAsync<JukiNetUnavailableException>(() => simulator.Client(maxAttempts: 3).GetChangesAsync(0, 10));
        Assert.Equal(3, error.Attempts);
        Assert.Contains("HTTP 503", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, (await simulator.FaultStateAsync()).GetProperty("outageRequestsLeft").GetInt32());
        await simulator.Client(maxAttempts: 1).GetChangesAsync(0, 10);

        // Lookups count too, and the answer is a 503 problem with Retry-After.
        await simulator.SetFaultsAsync("""{"outageRequests":1}""");
        using var answer = await simulator.Http.GetAsync(new Uri(simulator.BaseAddress, $"api/v1/residents/{resident.Digits}"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.StatusCode);
        Assert.Equal(ProblemJson, answer.Content.Headers.ContentType?.MediaType);
        Assert.Equal(TimeSpan.FromSeconds(1), answer.Headers.RetryAfter?.Delta);
        Assert.IsType<ResidentFound>(await simulator.Client(maxAttempts: 1).LookupAsync(resident));
    }

    [Fact]
    public async Task A_timed_outage_lasts_until_the_clock_passes_it()
    {
        var resident = simulator.Population[2].ResidentCode;
        await simulator.SetFaultsAsync("""{"outageMs":60000}""");
        Assert.True((await simulator.FaultStateAsync()).TryGetProperty("outageUntil", out _));

        await Assert.ThrowsAsync<JukiNetUnavailableException>(() => simulator.Client(maxAttempts: 2).LookupAsync(resident));
        simulator.Clock.Advance(TimeSpan.FromSeconds(59));
        await Assert.ThrowsAsync<JukiNetUnavailableException>(() => simulator.Client(maxAttempts: 2).GetChangesAsync(0, 1));
        simulator.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.IsType<ResidentFound>(await simulator.Client(maxAttempts: 1).LookupAsync(resident));
    }

    [Fact]
    public async Task An_aborting_outage_drops_the_connection()
    {
        await simulator.SetFaultsAsync("""{"outageRequests":2,"outage":"abort"}""");

        var error = await Assert.ThrowsAsync<JukiNetUnavailableException>(() => simulator.Client(maxAttempts: 2).GetChangesAsync(0, 10));
        Assert.Equal(2, error.Attempts);
        Assert.IsType<HttpRequestException>(error.InnerException);
        await simulator.Client(maxAttempts: 1).GetChangesAsync(0, 10);
    }

    [Fact]
    public async Task Slow_answers_time_the_client_out_and_a_patient_client_gets_them()
    {
        var resident = simulator.Population[3].ResidentCode;
        await simulator.SetFaultsAsync("""{"slowMs":1500}""");

        var error = await Assert.ThrowsAsync<JukiNetUnavailableException>(() => simulator.Client(maxAttempts: 2, attemptTimeoutMs: 200).GetChangesAsync(0, 10));
        Assert.Equal(2, error.Attempts);
        Assert.Contains("no answer within 200 ms", error.Message, StringComparison.Ordinal);

        var clock = Stopwatch.StartNew();
        Assert.IsType<ResidentFound>(await simulator.Client(maxAttempts: 1, attemptTimeoutMs: 10_000).LookupAsync(resident));
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(1400), $"answered after {clock.Elapsed}");

        await simulator.ClearFaultsAsync();
        await simulator.Client(maxAttempts: 1, attemptTimeoutMs: 1000).LookupAsync(resident);
    }

    [Fact]
    public async Task Clearing_every_fault_restores_a_clean_feed()
    {
        var posted = await AppendChangesAsync(50);
        var from = posted.Keys.Min() - 1;
        await simulator.SetFaultsAsync("""{"seed":8,"duplicates":0.3,"late":0.3,"reorder":1,"malformed":0.3,"unknownResidents":0.3}""");
        var client = simulator.Client();
        var faulted = await client.GetChangesAsync(from, 50);
        Assert.NotEmpty(faulted.Malformed);

        await simulator.ClearFaultsAsync();

        var clean = await client.GetChangesAsync(from, 100);
        Assert.Empty(clean.Malformed);
        Assert.Equal(posted.Keys.Order(), clean.Changes.Select(e => e.Sequence));
        Assert.All(clean.Changes, e => Assert.Equal(posted[e.Sequence], e.ResidentCode));
        Assert.False((await simulator.FaultStateAsync()).GetProperty("faults").GetProperty("reorder").GetDouble() > 0);
    }

    [Fact]
    public async Task The_same_seed_and_requests_give_the_same_pages()
    {
        var posted = await AppendChangesAsync(40);
        var from = posted.Keys.Min() - 1;
        const string Faults = """{"seed":9,"duplicates":0.3,"late":0.2,"reorder":0.5,"malformed":0.2,"unknownResidents":0.2}""";

        async Task<List<string>> ServeAsync(string faults)
        {
            await simulator.SetFaultsAsync(faults);
            var bodies = new List<string>();
            for (var after = from; after < from + 40; after += 8)
            {
                bodies.Add(await simulator.Http.GetStringAsync(new Uri(simulator.BaseAddress, $"api/v1/changes?after={after}&limit=10")));
            }

            await simulator.ClearFaultsAsync();
            return bodies;
        }

        var first = await ServeAsync(Faults);
        Assert.Equal(first, await ServeAsync(Faults));
        Assert.NotEqual(first, await ServeAsync(Faults.Replace("\"seed\":9", "\"seed\":10", StringComparison.Ordinal)));
    }

    /// <summary>The served page and the <c>after</c> it was asked with.</summary>
    private sealed record ServedPage(long After, ChangePage Page);

    /// <summary>
    /// Polls as a subscriber does: the cursor is the highest sequence seen, never moved back;
    /// stops when every posted sequence was seen (or, with <paramref name="untilCursorPassesAll"/>,
    /// when the cursor passes them: a malformed entry may have lost its sequence). Bounded.
    /// </summary>
    private async Task<List<ServedPage>> SubscribeAsync(IReadOnlyDictionary<long, ResidentCode> posted, int limit, bool untilCursorPassesAll = false)
    {
        var client = simulator.Client();
        var pages = new List<ServedPage>();
        var seen = new HashSet<long>();
        var cursor = posted.Keys.Min() - 1;
        var end = posted.Keys.Max();
        for (var poll = 0; poll < 200; poll++)
        {
            if (untilCursorPassesAll ? cursor >= end : posted.Keys.All(seen.Contains))
            {
                return pages;
            }

            var page = await client.GetChangesAsync(cursor, limit);
            Assert.True(page.Changes.Count + page.Malformed.Count <= limit);
            pages.Add(new ServedPage(cursor, page));
            var sequences = page.Changes.Select(e => e.Sequence).Concat(page.Malformed.Select(m => m.Sequence).OfType<long>())
                .Where(posted.ContainsKey) // events a previous test left behind are not ours
                .ToList();
            seen.UnionWith(sequences);
            cursor = Math.Max(cursor, sequences.DefaultIfEmpty(cursor).Max());
        }

        Assert.Fail($"the feed did not deliver every event in 200 polls; missing {string.Join(", ", posted.Keys.Where(s => !seen.Contains(s)))}");
        return pages;
    }

    /// <summary>
    /// Appends <paramref name="count"/> changes (with the switches off) of types that need values
    /// and types that need none, for residents that never die in this class; returns sequence → resident.
    /// </summary>
    private async Task<Dictionary<long, ResidentCode>> AppendChangesAsync(int count)
    {
        string[] changes =
        [
            """{"type":"correction"}""",
            """{"type":"nameChange","name":"佐藤　花子"}""",
            """{"type":"sexChange","sex":3}""",
            """{"type":"addressRenumbering","address":"ADDRESS"}""",
        ];
        var posted = new Dictionary<long, ResidentCode>();
        for (var i = 0; i < count; i++)
        {
            var resident = simulator.Population[20 + (i % 10)];
            var address = Prefecture.AddressPrefix(Prefecture.Find(resident.MunicipalityCode)!) + "１－" + (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            posted.Add(await simulator.PostChangeAsync(resident.ResidentCode, changes[i % changes.Length].Replace("ADDRESS", address, StringComparison.Ordinal)), resident.ResidentCode);
        }

        return posted;
    }

    private static string Json(ChangeEvent change) => JsonSerializer.Serialize(change, JukiNetJson.Options);
}
