using System.Collections.Immutable;
using Jpki.Core.Issuers;
using Jpki.Core.Store;
using Microsoft.Extensions.Logging;

namespace Jpki.Ca;

/// <summary>
/// Looks for certificates the CA depends on that end soon without a successor
/// (<see cref="ExpiryAlarms"/>) at start-up and every <see cref="CaOptions.ExpiryCheckInterval"/>:
/// <c>/healthz</c> shows them (degraded, still 200: the CA works until the end), the log warns, and
/// each alarm is audited once per process (a restarted or second CA instance records it again,
/// which says the alarm was still standing then).
/// </summary>
public sealed class ExpiryAlarmService(CaServices services, ILogger<ExpiryAlarmService> logger) : BackgroundService
{
    public const string Actor = "system/expiry-alarm";

    private readonly Lock gate = new();

    private readonly HashSet<(ExpiringCertificateKind, string, DateTimeOffset)> audited = [];

    private volatile IReadOnlyList<ExpiryAlarm> current = ImmutableArray<ExpiryAlarm>.Empty;

    /// <summary>The alarms of the last check (none before the first).</summary>
    public IReadOnlyList<ExpiryAlarm> Current => current;

    /// <summary>The <c>expiry</c> part of <c>/healthz</c>.</summary>
    public ExpiryHealth Health() => new(current.Count == 0 ? "ok" : "alarm", [.. current.Select(a => new ExpiryAlarmAnswer(a.KindName, a.KeyId, a.NotAfter, a.Remedy))]);

    /// <summary>One check: reads the store, records new alarms in the audit log. Returns the alarms.</summary>
    public IReadOnlyList<ExpiryAlarm> Check()
    {
        lock (gate)
        {
            return CheckLocked();
        }
    }

    private IReadOnlyList<ExpiryAlarm> CheckLocked()
    {
        var now = services.Options.Time.GetUtcNow();
        IReadOnlyList<ExpiryAlarm> alarms;
        using (var db = services.Database.OpenConnection())
        {
            alarms = ExpiryAlarms.Find(db, now, services.Settings.ExpiryAlarms);
        }

        var raised = alarms.Where(a => !audited.Contains((a.Kind, a.KeyId, a.NotAfter))).ToList();
        if (raised.Count > 0)
        {
            using var tx = services.Database.BeginWrite();
            services.Audit.AppendRange(tx, raised.Select(a => ExpiryAlarms.Record(Actor, a, now)).ToList());
            tx.Commit();
            foreach (var alarm in raised)
            {
                audited.Add((alarm.Kind, alarm.KeyId, alarm.NotAfter));
                logger.LogWarning("the {Kind} certificate of {KeyId} ends {NotAfter:O} and has no successor: {Remedy}", alarm.KindName, alarm.KeyId, alarm.NotAfter, alarm.Remedy);
            }
        }

        current = alarms;
        return alarms;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Run(Check, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // A store that does not answer now is /healthz's to report; checked again next time.
            catch (Exception e)
#pragma warning restore CA1031
            {
                logger.LogError(e, "the expiry check failed; retrying at the next check");
            }

            await Task.Delay(services.Options.ExpiryCheckInterval, services.Options.Time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }
}

/// <summary>The <c>expiry</c> part of the CA's <c>/healthz</c>: <c>ok</c> or <c>alarm</c> and each alarm.</summary>
public sealed record ExpiryHealth(string Status, IReadOnlyList<ExpiryAlarmAnswer> Alarms);

/// <summary>A certificate of the install near its end, and what to do about it.</summary>
public sealed record ExpiryAlarmAnswer(string Kind, string KeyId, DateTimeOffset NotAfter, string Remedy);
