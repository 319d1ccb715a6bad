using System.Globalization;
using System.Text.Json.Serialization;

namespace Jpki.JukiNet.Simulator;

/// <summary>
/// The change generator's settings: <c>--changes-per-second</c>, <c>--changes-limit</c>,
/// <c>--changes-seed</c>, or the body of <c>POST /api/v1/generator</c>.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record GeneratorSettings
{
    public const double MaxChangesPerSecond = 5000;

    public double ChangesPerSecond { get; init; }

    /// <summary>Stop after this many changes; null: run until stopped.</summary>
    public long? Limit { get; init; }

    public int Seed { get; init; } = 1;

    public string? Check()
    {
        if (double.IsNaN(ChangesPerSecond) || ChangesPerSecond is <= 0 or > MaxChangesPerSecond)
        {
            return $"changesPerSecond must be above 0 and at most {MaxChangesPerSecond.ToString(CultureInfo.InvariantCulture)}";
        }

        return Limit is < 1 ? "limit must be at least 1" : null;
    }
}

/// <summary>Where a generator run stands: <c>idle | running | done | stopped | exhausted | failed</c>.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<GeneratorState>))]
public enum GeneratorState
{
    /// <summary>Never started.</summary>
    Idle,
    Running,

    /// <summary>Reached its limit.</summary>
    Done,

    /// <summary>Stopped by DELETE, a new start or shutdown.</summary>
    Stopped,

    /// <summary>No resident left whose record can change.</summary>
    Exhausted,

    /// <summary>Too many refused changes or an error; see the log.</summary>
    Failed,
}

/// <summary>What <c>/api/v1/generator</c> answers.</summary>
/// <param name="Generated">Changes applied (each is one feed event).</param>
/// <param name="Refused">Drawn changes the rules refused (a resident changed in between); expected 0.</param>
public sealed record GeneratorStatus(GeneratorState State, GeneratorSettings? Settings, long Generated, long Refused);

/// <summary>
/// Appends random but valid change events for registered residents at a given rate (issue 5:
/// load for the subscriber), through the same rules and store path as <c>POST /api/v1/changes</c>,
/// so the registry and the feed stay consistent. Paced by a <see cref="PeriodicTimer"/> on the
/// injected <see cref="TimeProvider"/>: each tick applies the changes due by then
/// (rate × elapsed), at most two ticks' worth, so a stall does not turn into an unbounded burst.
/// One run at a time; a new start stops the old run.
/// </summary>
public sealed class ChangeGenerator(SimulatorStore store, TimeProvider time, ILogger<ChangeGenerator> logger, GeneratorSettings? atStartup) : IHostedService, IDisposable
{
    /// <summary>A run gives up after this many refusals: the rules and the draw disagree, which is a bug.</summary>
    public const int MaxRefused = 100;

    private static readonly TimeSpan ShortestTick = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan LongestTick = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan JapanOffset = TimeSpan.FromHours(9);

    private readonly SemaphoreSlim gate = new(1, 1);
    private GeneratorRun? current;

    public GeneratorStatus Status => current?.Status ?? new GeneratorStatus(GeneratorState.Idle, null, 0, 0);

    /// <summary>Changes due after <paramref name="elapsed"/> at <paramref name="changesPerSecond"/>, capped by <paramref name="limit"/>.</summary>
    public static long ChangesDue(TimeSpan elapsed, double changesPerSecond, long limit) =>
        (long)Math.Min(limit, Math.Floor(elapsed.TotalSeconds * changesPerSecond));

    /// <summary>One change per tick at low rates; at most 50 ticks a second at high ones.</summary>
    public static TimeSpan TickPeriod(double changesPerSecond) =>
        TimeSpan.FromSeconds(Math.Clamp(1 / changesPerSecond, ShortestTick.TotalSeconds, LongestTick.TotalSeconds));

    /// <summary>Stops a running generator, then starts one with <paramref name="settings"/> (already checked).</summary>
    public async Task<GeneratorStatus> StartRunAsync(GeneratorSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        await gate.WaitAsync();
        try
        {
            await StopCurrentAsync();
            current?.Cancellation.Dispose();
            var run = new GeneratorRun(settings);
            current = run;
            run.Task = Task.Run(() => RunAsync(run));
            logger.LogInformation("change generator started: {Settings}", settings);
            return run.Status;
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task<GeneratorStatus> StopRunAsync()
    {
        await gate.WaitAsync();
        try
        {
            await StopCurrentAsync();
            return Status;
        }
        finally
        {
            gate.Release();
        }
    }

    async Task IHostedService.StartAsync(CancellationToken cancellationToken)
    {
        if (atStartup is not null)
        {
            await StartRunAsync(atStartup);
        }
    }

    Task IHostedService.StopAsync(CancellationToken cancellationToken) => StopRunAsync();

    public void Dispose()
    {
        current?.Cancellation.Dispose();
        gate.Dispose();
    }

    private async Task StopCurrentAsync()
    {
        if (current is { Task.IsCompleted: false } run)
        {
            await run.Cancellation.CancelAsync();
            await run.Task;
        }
    }

    private async Task RunAsync(GeneratorRun run)
    {
        var settings = run.Settings;
        var limit = settings.Limit ?? long.MaxValue;
        var token = run.Cancellation.Token;
        try
        {
            var random = new Random(settings.Seed);
            var period = TickPeriod(settings.ChangesPerSecond);
            var mostPerTick = Math.Max(1, (long)Math.Ceiling(2 * settings.ChangesPerSecond * period.TotalSeconds));
            var started = time.GetTimestamp();
            using var timer = new PeriodicTimer(period, time);
            while (run.Generated < limit && await timer.WaitForNextTickAsync(token))
            {
                var due = ChangesDue(time.GetElapsedTime(started), settings.ChangesPerSecond, limit);
                for (var i = Math.Min(due - run.Generated, mostPerTick); i > 0; i--)
                {
                    token.ThrowIfCancellationRequested();
                    if (await ApplyOneAsync(run, random) is { } end)
                    {
                        run.End(end);
                        return;
                    }
                }
            }

            run.End(GeneratorState.Done);
            logger.LogInformation("change generator done: {Generated} changes, {Refused} refused", run.Generated, run.Refused);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            run.End(GeneratorState.Stopped);
        }
        catch (Exception e)
        {
            // A background loop: whatever went wrong is logged and shown in the status, not lost in an unobserved task.
            logger.LogError(e, "change generator failed after {Generated} changes", run.Generated);
            run.End(GeneratorState.Failed);
        }
    }

    /// <summary>Draws and applies one change; null to go on, else the state the run ends in.</summary>
    private async Task<GeneratorState?> ApplyOneAsync(GeneratorRun run, Random random)
    {
        var from = random.NextInt64(0, 100_000_000_000).ToString("D11", CultureInfo.InvariantCulture);
        if (await store.FindChangeableResidentAsync(from) is not { } code)
        {
            logger.LogWarning("change generator: no resident left whose record can change");
            return GeneratorState.Exhausted;
        }

        var today = DateOnly.FromDateTime(time.GetUtcNow().ToOffset(JapanOffset).DateTime);
        // The draw happens inside the store's write transaction, on the record as it is then.
        var outcome = await store.ApplyChangeAsync(code, record =>
        {
            var drawn = RandomChanges.Draw(record, random, today);
            return ChangeRules.Decide(drawn.Request, code, drawn.Type, drawn.EffectiveDate, drawn.DateOfBirth, record);
        });
        if (outcome is ChangeOutcome.Applied)
        {
            run.CountGenerated();
            return null;
        }

        logger.LogWarning("change generator: a drawn change was refused: {Outcome}", outcome);
        return run.CountRefused() > MaxRefused ? GeneratorState.Failed : null;
    }

    /// <summary>One run's settings, counters and task; counters are read by status requests while the run writes them.</summary>
    private sealed class GeneratorRun(GeneratorSettings settings)
    {
        private long generated;
        private long refused;
        private volatile GeneratorState state = GeneratorState.Running;

        public GeneratorSettings Settings { get; } = settings;

        public CancellationTokenSource Cancellation { get; } = new();

        public Task Task { get; set; } = Task.CompletedTask;

        public long Generated => Interlocked.Read(ref generated);

        public long Refused => Interlocked.Read(ref refused);

        public GeneratorStatus Status => new(state, Settings, Generated, Refused);

        public void CountGenerated() => Interlocked.Increment(ref generated);

        public long CountRefused() => Interlocked.Increment(ref refused);

        public void End(GeneratorState final) => state = final;
    }
}
