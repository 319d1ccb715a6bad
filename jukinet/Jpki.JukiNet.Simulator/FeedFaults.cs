using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Jpki.JukiNet.Simulator;

/// <summary>What <c>GET/PUT/DELETE /api/v1/faults</c> answer: the switches and where they stand.</summary>
/// <param name="Faults">The switches in force, defaults filled in.</param>
/// <param name="Withheld">Events held back by <c>late</c>, not yet released.</param>
/// <param name="DueForDelivery">Released events that the next feed answer carries.</param>
/// <param name="OutageRequestsLeft">Feed or lookup requests that will still fail.</param>
/// <param name="OutageUntil">Until when feed and lookup requests fail (absent when no timed outage is running).</param>
/// <param name="FeedAnswers">Feed answers served since the switches were set.</param>
public sealed record FaultState(FaultSettings Faults, int Withheld, int DueForDelivery, int OutageRequestsLeft, DateTimeOffset? OutageUntil, long FeedAnswers);

/// <summary>What happens to one feed or lookup request before it is answered.</summary>
/// <param name="Outage">Null: answer normally; else fail this way.</param>
public sealed record RequestFault(OutageKind? Outage, int SlowMs);

/// <summary>
/// The simulator's fault switches and their state (issue 5). Faults rewrite only the served
/// pages; the registry stays truthful, so clearing the switches restores a clean feed. Whether
/// an event is duplicated, withheld, corrupted or given an unknown resident is a hash of the
/// seed and its sequence, and a page's replay and shuffle a hash of the seed and <c>after</c>:
/// the same seed and the same requests give the same answers. Feed answers with faults on are
/// built one at a time (the withheld events are shared state), which is fine for a simulator.
/// </summary>
public sealed class FeedFaults : IDisposable
{
    /// <summary>Held-back events are kept in memory: never more than this many at once.</summary>
    public const int MaxWithheld = 1000;

    private const int MaxReplayed = 3;

    private readonly SimulatorStore store;
    private readonly TimeProvider time;
    private readonly ILogger logger;
    private readonly SemaphoreSlim gate = new(1, 1);
    private readonly Dictionary<long, WithheldChange> withheld = [];
    private readonly Dictionary<long, ChangeEvent> dueForDelivery = [];

    private FaultSettings settings = FaultSettings.Off;
    private int outageRequestsLeft;
    private DateTimeOffset outageUntil = DateTimeOffset.MinValue;
    private long feedAnswers;

    /// <summary>Sequences up to here have been considered for withholding since the switches were set: each event is withheld at most once.</summary>
    private long highestConsidered;

    /// <summary>Read without the gate so that a clean feed does not queue behind it.</summary>
    private volatile bool rewritesPages;

    public FeedFaults(SimulatorStore store, TimeProvider time, ILogger<FeedFaults> logger, FaultSettings initial)
    {
        ArgumentNullException.ThrowIfNull(initial);
        this.store = store;
        this.time = time;
        this.logger = logger;
        Apply(initial);
    }

    /// <summary>
    /// Whether feed answers must go through <see cref="ServePageAsync"/>: a page-rewriting switch
    /// is on, or held-back events are still to be delivered.
    /// </summary>
    public bool RewritesPages => rewritesPages;

    public async Task<FaultState> StateAsync()
    {
        await gate.WaitAsync();
        try
        {
            return State();
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Replaces every switch (missing ones are off) and restarts the counters and windows. Events
    /// held back so far are released, not lost: the next feed answer carries them.
    /// </summary>
    public async Task<FaultState> SetAsync(FaultSettings faults)
    {
        ArgumentNullException.ThrowIfNull(faults);
        await gate.WaitAsync();
        try
        {
            Apply(faults);
            logger.LogInformation("feed faults set: {Faults}", faults);
            return State();
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Called once per feed or lookup request: uses up one request of a counted outage.</summary>
    public async Task<RequestFault> BeginRequestAsync()
    {
        await gate.WaitAsync();
        try
        {
            OutageKind? outage = null;
            if (outageRequestsLeft > 0)
            {
                outageRequestsLeft--;
                outage = settings.Outage;
            }
            else if (time.GetUtcNow() < outageUntil)
            {
                outage = settings.Outage;
            }

            return new RequestFault(outage, settings.SlowMs);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// One feed answer <c>{ changes, last }</c> with the switches applied: released late events
    /// (sequence ≤ after) first, then a replay of the events just before <c>after</c>, then the
    /// fresh events minus those held back now, plus duplicates; sorted by sequence unless shuffled;
    /// then unknown residents and corruption written into the entries. Never more than
    /// <paramref name="limit"/> entries; <c>last</c> is the registry's, untouched.
    /// </summary>
    public async Task<JsonObject> ServePageAsync(long after, int limit, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            var faults = settings;
            var answer = ++feedAnswers;
            var now = time.GetUtcNow();
            ReleaseDue(faults, answer, now);

            var page = new List<ChangeEvent>();
            foreach (var late in dueForDelivery.Values.Where(e => e.Sequence <= after).OrderBy(e => e.Sequence).Take(limit).ToList())
            {
                page.Add(late);
                dueForDelivery.Remove(late.Sequence);
            }

            if (limit - page.Count >= 2 && after > 0 && Chance(faults.Seed, Draw.Replay, after, faults.Duplicates))
            {
                var replayed = Math.Min(1 + (int)(Hash(faults.Seed, Draw.ReplayCount, after) % MaxReplayed), (limit - page.Count) / 2);
                var (earlier, _) = await store.ReadChangesAsync(Math.Max(0, after - replayed), replayed);
                page.AddRange(earlier.Where(e => e.Sequence <= after && !withheld.ContainsKey(e.Sequence)));
            }

            // Duplicates need room in the page: read fewer fresh events, in proportion.
            var room = limit - page.Count;
            var (fresh, last) = await store.ReadChangesAsync(after, room > 1 ? (int)Math.Ceiling(room / (1 + faults.Duplicates)) : room);
            var kept = KeepOrWithhold(faults, fresh, answer, now);
            highestConsidered = Math.Max(highestConsidered, fresh.Count > 0 ? fresh[^1].Sequence : 0);
            page.AddRange(kept);
            foreach (var change in kept)
            {
                if (page.Count < limit && Chance(faults.Seed, Draw.Duplicate, change.Sequence, faults.Duplicates))
                {
                    page.Add(change);
                }
            }

            page = page.Count >= 2 && Chance(faults.Seed, Draw.Reorder, after, faults.Reorder)
                ? Shuffled(page, new Random((int)Hash(faults.Seed, Draw.Reorder, after)))
                : [.. page.OrderBy(e => e.Sequence)];

            var entries = new JsonArray();
            foreach (var change in page)
            {
                entries.Add(await WireEntryAsync(faults, change));
            }

            UpdateRewritesPages();
            return new JsonObject { ["changes"] = entries, ["last"] = last };
        }
        finally
        {
            gate.Release();
        }
    }

    public void Dispose() => gate.Dispose();

    /// <summary>The fresh events served now: those already held back are skipped, and a new one may be held back (late delivery).</summary>
    private List<ChangeEvent> KeepOrWithhold(FaultSettings faults, IReadOnlyList<ChangeEvent> fresh, long answer, DateTimeOffset now)
    {
        var kept = new List<ChangeEvent>();
        foreach (var change in fresh)
        {
            if (withheld.ContainsKey(change.Sequence))
            {
                continue;
            }

            if (change.Sequence > highestConsidered && withheld.Count < MaxWithheld && Chance(faults.Seed, Draw.Late, change.Sequence, faults.Late))
            {
                withheld.Add(change.Sequence, new WithheldChange(change, answer, now));
                continue;
            }

            kept.Add(change);

            // A released event above after is no longer held back: served in its own range, it is delivered.
            dueForDelivery.Remove(change.Sequence);
        }

        return kept;
    }

    private void Apply(FaultSettings faults)
    {
        foreach (var (sequence, held) in withheld)
        {
            dueForDelivery[sequence] = held.Change;
        }

        withheld.Clear();
        settings = faults;
        outageRequestsLeft = faults.OutageRequests;
        outageUntil = faults.OutageMs > 0 ? time.GetUtcNow().AddMilliseconds(faults.OutageMs) : DateTimeOffset.MinValue;
        feedAnswers = 0;
        highestConsidered = 0;
        UpdateRewritesPages();
    }

    private void UpdateRewritesPages() =>
        rewritesPages = settings.RewritesPages || withheld.Count > 0 || dueForDelivery.Count > 0;

    private FaultState State() => new(
        settings,
        withheld.Count,
        dueForDelivery.Count,
        outageRequestsLeft,
        time.GetUtcNow() < outageUntil ? outageUntil : null,
        feedAnswers);

    private void ReleaseDue(FaultSettings faults, long answer, DateTimeOffset now)
    {
        var maxAge = TimeSpan.FromMilliseconds(faults.LateReleaseAfterMs);
        foreach (var (sequence, held) in withheld.ToList())
        {
            if (answer - held.Answer >= faults.LateReleaseAfterPolls || now - held.At >= maxAge)
            {
                withheld.Remove(sequence);
                dueForDelivery[sequence] = held.Change;
            }
        }
    }

    /// <summary>A shuffle that, for a page holding two different sequences, is never in sequence order.</summary>
    private static List<ChangeEvent> Shuffled(List<ChangeEvent> page, Random random)
    {
        var shuffled = page.ToArray();
        random.Shuffle(shuffled);
        if (shuffled.Zip(shuffled.Skip(1)).All(pair => pair.First.Sequence <= pair.Second.Sequence))
        {
            // Sorted by chance: moving the smallest to the end unsorts it.
            shuffled = [.. shuffled.Skip(1), shuffled[0]];
        }

        return [.. shuffled];
    }

    private async Task<JsonNode?> WireEntryAsync(FaultSettings faults, ChangeEvent change)
    {
        if (Chance(faults.Seed, Draw.UnknownResident, change.Sequence, faults.UnknownResidents))
        {
            change = change with { ResidentCode = await UnknownResidentCodeAsync(faults.Seed, change.Sequence) };
        }

        var entry = JsonSerializer.SerializeToNode(change, JukiNetJson.Options)!.AsObject();
        return Chance(faults.Seed, Draw.Malformed, change.Sequence, faults.Malformed)
            ? Corrupt(entry, change, Hash(faults.Seed, Draw.MalformedShape, change.Sequence))
            : entry;
    }

    /// <summary>A code with a correct check digit that the registry does not hold, the same each time for a sequence.</summary>
    private async Task<ResidentCode> UnknownResidentCodeAsync(int seed, long sequence)
    {
        for (var attempt = 0L; attempt < 100; attempt++)
        {
            var firstTen = (Hash(seed, Draw.UnknownResident, (sequence * 100) + attempt) % 10_000_000_000UL).ToString("D10", CultureInfo.InvariantCulture);
            var code = ResidentCode.FromFirstTen(firstTen);
            if (await store.FindResidentAsync(code) is null)
            {
                return code;
            }
        }

        throw new InvalidOperationException("no unregistered resident code found in 100 draws");
    }

    /// <summary>
    /// One of five corruptions. All but the non-object entry keep the sequence, so the
    /// subscriber can tell which event it lost.
    /// </summary>
    private static JsonNode? Corrupt(JsonObject entry, ChangeEvent change, ulong draw)
    {
        switch (draw % 5)
        {
            case 0:
                entry["type"] = "teleport";
                return entry;
            case 1:
                var required = ChangeEvent.Required(change.Type);
                if (required == ChangeValues.None)
                {
                    entry.Remove("effectiveDate");
                }
                else
                {
                    foreach (var member in WireMembers(required))
                    {
                        entry.Remove(member);
                    }
                }

                return entry;
            case 2:
                entry["effectiveDate"] = "2026-02-30";
                return entry;
            case 3:
                var digits = change.ResidentCode.Digits;
                entry["residentCode"] = digits[..^1] + (char)('0' + ((digits[^1] - '0' + 1) % 10));
                return entry;
            default:
                return (draw / 5 % 4) switch
                {
                    0 => null,
                    1 => JsonValue.Create("not an event"),
                    2 => JsonValue.Create(0),
                    _ => new JsonArray(),
                };
        }
    }

    private static IEnumerable<string> WireMembers(ChangeValues values)
    {
        foreach (var value in Enum.GetValues<ChangeValues>().Where(v => v != ChangeValues.None && values.HasFlag(v)))
        {
            var member = JsonNamingPolicy.CamelCase.ConvertName(value.ToString());
            yield return member;
            if (value is ChangeValues.Name or ChangeValues.Address)
            {
                yield return member + "Substitutes";
            }
        }
    }

    private static bool Chance(int seed, Draw draw, long value, double rate) =>
        rate > 0 && (Hash(seed, draw, value) >> 11) * (1.0 / (1UL << 53)) < rate;

    /// <summary>SplitMix64 over seed, draw and value: stable across runs and platforms, unlike string.GetHashCode.</summary>
    private static ulong Hash(int seed, Draw draw, long value)
    {
        static ulong Mix(ulong x)
        {
            x += 0x9E3779B97F4A7C15UL;
            x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
            x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
            return x ^ (x >> 31);
        }

        return Mix(Mix(Mix((ulong)(uint)seed) ^ (ulong)draw) ^ (ulong)value);
    }

    /// <summary>Independent random draws per purpose, so that turning one switch on does not move another's choices.</summary>
    private enum Draw
    {
        Duplicate = 1,
        Replay,
        ReplayCount,
        Late,
        Reorder,
        Malformed,
        MalformedShape,
        UnknownResident,
    }

    private sealed record WithheldChange(ChangeEvent Change, long Answer, DateTimeOffset At);
}
