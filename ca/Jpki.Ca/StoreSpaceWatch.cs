using System.Diagnostics.Metrics;
using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Microsoft.Extensions.Logging;

namespace Jpki.Ca;

/// <summary>
/// What the CA knows about its store's disk (decision 0820): every write refused for lack of space
/// (SQLite SQLITE_FULL, PostgreSQL 53100 disk_full, ENOSPC) — an API request answered 503
/// <c>storage-full</c>, a Juki-Net page not applied — is counted (metric
/// <c>jpki.ca.store.full.refusals</c>, gauge <c>jpki.ca.store.full</c>) and makes <c>/healthz</c>
/// degraded with the reason. No audit record can be written while the disk is full, so the alarm
/// is recorded when space is back: <see cref="RunAsync"/> tries, once no write has been refused for
/// <see cref="QuietPeriod"/>, to append one <c>store.storage-full</c> record with the count, the
/// period and the last error; when that commits, the store takes writes again and health is ok.
/// No restart is needed.
/// </summary>
public sealed partial class StoreSpaceWatch
{
    /// <summary>The audit action of the record that says what a full disk refused, written once space is back.</summary>
    public const string RecoveredAction = "store.storage-full";

    /// <summary>The actor of that record.</summary>
    public const string Actor = "system/ca";

    /// <summary>How long no write must have been refused before a recovery is tried (a refused write means the disk is still full).</summary>
    public static readonly TimeSpan QuietPeriod = TimeSpan.FromSeconds(2);

    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);

    private readonly Database database;
    private readonly AuditLog audit;
    private readonly TimeProvider time;
    private readonly ILogger<StoreSpaceWatch> logger;
    private readonly Counter<long> refusals;
    private readonly Lock gate = new();
    private StoreSpaceState state = StoreSpaceState.Ok;

    public StoreSpaceWatch(Database database, AuditLog audit, TimeProvider time, IMeterFactory meters, ILogger<StoreSpaceWatch> logger)
    {
        ArgumentNullException.ThrowIfNull(meters);
        this.database = database;
        this.audit = audit;
        this.time = time;
        this.logger = logger;
        var meter = meters.Create(IssuanceMetrics.MeterName);
        refusals = meter.CreateCounter<long>("jpki.ca.store.full.refusals", description: "Writes the store refused for lack of disk space, by operation (request, feed)");
        meter.CreateObservableGauge("jpki.ca.store.full", () => Current.Full ? 1 : 0, description: "1 while the store's disk is full (a write was refused and no write has succeeded since)");
    }

    /// <summary>The state now, for <c>/healthz</c>.</summary>
    public StoreSpaceState Current
    {
        get
        {
            lock (gate)
            {
                return state;
            }
        }
    }

    /// <summary>
    /// True when <paramref name="error"/> means the store's disk is full (it is then counted against
    /// <paramref name="operation"/>: <c>request</c> or <c>feed</c>); false for any other error, which is not counted.
    /// </summary>
    public bool Refused(Exception error, string operation)
    {
        if (!StoreFaults.IsOutOfSpace(error))
        {
            return false;
        }

        var now = time.GetUtcNow();
        bool started;
        lock (gate)
        {
            started = !state.Full;
            state = state.Refuse(now, operation, error.GetBaseException().Message);
        }

        refusals.Add(1, new KeyValuePair<string, object?>("operation", operation));
        if (started)
        {
            LogFull(operation, error.GetBaseException().Message);
        }

        return true;
    }

    /// <summary>Checks every second whether space is back (<see cref="TryRecover"/>), until stopped.</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(CheckInterval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            TryRecover();
        }
    }

    /// <summary>
    /// When the disk was full and no write was refused for <see cref="QuietPeriod"/>: appends the
    /// <c>store.storage-full</c> record; if it commits, the refusals it counts are cleared (any that
    /// came meanwhile stay for the next record). True when a record was written.
    /// </summary>
    public bool TryRecover()
    {
        var seen = Current;
        var now = time.GetUtcNow();
        if (!seen.Full || now - seen.LastRefusal < QuietPeriod)
        {
            return false;
        }

        try
        {
            using var tx = database.BeginWrite();
            audit.Append(tx, new AuditRecord(Actor, RecoveredAction, "store", seen.Details(now)));
            tx.Commit();
        }
        catch (Exception e) when (e is System.Data.Common.DbException or IOException)
        {
            // Still full (or the store is away): counted as nothing; the next check tries again.
            return false;
        }

        lock (gate)
        {
            state = state.Recovered(seen);
        }

        LogRecovered(seen.Refused, seen.Since!.Value);
        return true;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "the store's disk is full: writes are refused (503 storage-full, Juki-Net pages not applied) until space is freed; first refused: {Operation}: {Error}")]
    private partial void LogFull(string operation, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "the store takes writes again: {Refused} write(s) refused for lack of space since {Since:o}, recorded as store.storage-full")]
    private partial void LogRecovered(long refused, DateTimeOffset since);
}

/// <summary>
/// The store's disk as the CA saw it: <paramref name="Refused"/> writes refused since
/// <paramref name="Since"/> (the latest at <paramref name="LastRefusal"/>), by operation; not
/// yet recorded. <see cref="Full"/> until a record of them commits.
/// </summary>
public sealed record StoreSpaceState(long Refused, DateTimeOffset? Since, DateTimeOffset LastRefusal, string? LastError, long Requests, long FeedPolls)
{
    public static StoreSpaceState Ok { get; } = new(0, null, DateTimeOffset.MinValue, null, 0, 0);

    public bool Full => Refused > 0;

    public StoreSpaceState Refuse(DateTimeOffset now, string operation, string error) => this with
    {
        Refused = Refused + 1,
        Since = Since ?? now,
        LastRefusal = now,
        LastError = error,
        Requests = Requests + (operation == "feed" ? 0 : 1),
        FeedPolls = FeedPolls + (operation == "feed" ? 1 : 0),
    };

    /// <summary>What is left once <paramref name="recorded"/> is in the audit log: refusals that came after it was read.</summary>
    public StoreSpaceState Recovered(StoreSpaceState recorded)
    {
        ArgumentNullException.ThrowIfNull(recorded);
        return Refused == recorded.Refused
            ? Ok
            : this with { Refused = Refused - recorded.Refused, Since = recorded.LastRefusal, Requests = Requests - recorded.Requests, FeedPolls = FeedPolls - recorded.FeedPolls };
    }

    /// <summary>The <c>store.storage-full</c> record's details.</summary>
    public JsonObject Details(DateTimeOffset recoveredAt) => new()
    {
        ["refused"] = Refused,
        ["requests"] = Requests,
        ["feedPolls"] = FeedPolls,
        ["since"] = Since?.ToString("o", System.Globalization.CultureInfo.InvariantCulture),
        ["lastRefusal"] = LastRefusal.ToString("o", System.Globalization.CultureInfo.InvariantCulture),
        ["recoveredAt"] = recoveredAt.ToString("o", System.Globalization.CultureInfo.InvariantCulture),
        ["lastError"] = LastError,
    };
}
