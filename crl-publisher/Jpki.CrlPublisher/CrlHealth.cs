using Jpki.Core.Store;

namespace Jpki.CrlPublisher;

/// <summary>A CRL that is the newest of its series and kind, and past 75% of its validity.</summary>
public sealed record StaleCrl(CrlArchiveRow Crl, DateTimeOffset Deadline);

/// <summary>
/// Never lapse: a CRL whose series has nothing newer at thisUpdate + 75% of its validity turns
/// health degraded (and the watch job audits an alarm), leaving a quarter of the validity to act.
/// </summary>
public static class CrlHealth
{
    public static IReadOnlyList<StaleCrl> Stale(Database database)
    {
        ArgumentNullException.ThrowIfNull(database);
        var nowUs = Instant.NowMicros(database.Time);
        using var db = database.OpenConnection();
        var stale = new List<StaleCrl>();
        foreach (var crl in CrlStore.LatestOfEverySeries(db, nowUs))
        {
            var deadlineUs = crl.ThisUpdateUs + ((crl.NextUpdateUs - crl.ThisUpdateUs) * 3 / 4);
            if (nowUs >= deadlineUs)
            {
                stale.Add(new StaleCrl(crl, Instant.FromMicros(deadlineUs)));
            }
        }

        return stale;
    }
}
