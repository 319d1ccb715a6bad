using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Store;

namespace Jpki.CrlPublisher;

/// <summary>
/// The CRL publisher's alarms, each an audit record of its own transaction (the build that raised
/// it has published nothing, so there is no change to share a transaction with).
/// </summary>
internal sealed class CrlAlarms(Database database, AuditLog audit)
{
    /// <summary>Audits <c>crl.alarm.storage-full</c>; false when it cannot be written either (the store's disk is the full one).</summary>
    public bool StorageFull(CrlSeries series, bool delta, string? directory, string archiveDirectory, Exception error)
    {
        try
        {
            var details = SeriesDetails(series, delta);
            details["directory"] = directory;
            details["archiveDirectory"] = archiveDirectory;
            details["error"] = error.GetBaseException().Message;
            Append("crl.alarm.storage-full", series, delta, details);
            return true;
        }
        catch (Exception e) when (StoreFaults.IsOutOfSpace(e))
        {
            return false;
        }
    }

    /// <summary>Audits <c>crl.alarm.revocation-ahead</c>: a listed revocation dated beyond this clock's horizon.</summary>
    public void RevocationAhead(CrlSeries series, bool delta, long latestUs, long count, DateTimeOffset now)
    {
        var details = SeriesDetails(series, delta);
        details["revokedAt"] = latestUs;
        details["entries"] = count;
        details["now"] = Instant.ToMicros(now);
        Append("crl.alarm.revocation-ahead", series, delta, details);
    }

    /// <summary>Audits <c>crl.alarm.check-failed</c> with the check's first 20 problems.</summary>
    public void CheckFailed(CrlSeries series, bool delta, long number, IReadOnlyList<string> problems)
    {
        var details = SeriesDetails(series, delta);
        details["number"] = number;
        details["problems"] = new JsonArray([.. problems.Take(20).Select(p => (JsonNode)p)]);
        Append("crl.alarm.check-failed", series, delta, details);
    }

    /// <summary>Audits a staleness alarm for an archived CRL once (across instances); true when this call raised it.</summary>
    public bool Stale(CrlArchiveRow crl, DateTimeOffset deadline)
    {
        ArgumentNullException.ThrowIfNull(crl);
        using var tx = database.BeginWrite();
        if (!CrlStore.MarkStaleAlarm(tx, crl.Id, Instant.NowMicros(database.Time)))
        {
            return false;
        }

        audit.Append(tx, new AuditRecord(SeriesPublisher.Actor, "crl.alarm.stale", $"{crl.IssuerKeyId}/{crl.Scope}", new JsonObject
        {
            ["issuerKeyId"] = crl.IssuerKeyId,
            ["scope"] = crl.Scope,
            ["kind"] = crl.Kind,
            ["number"] = crl.Number,
            ["nextUpdate"] = crl.NextUpdateUs,
            ["deadline"] = Instant.ToMicros(deadline),
        }));
        tx.Commit();
        return true;
    }

    private static JsonObject SeriesDetails(CrlSeries series, bool delta) => new()
    {
        ["issuerKeyId"] = series.IssuerKeyId,
        ["scope"] = series.StoreName,
        ["kind"] = delta ? "delta" : "complete",
    };

    private void Append(string action, CrlSeries series, bool delta, JsonObject details)
    {
        using var tx = database.BeginWrite();
        audit.Append(tx, new AuditRecord(SeriesPublisher.Actor, action, $"{series.IssuerKeyId}/{series.FileName(delta)}", details));
        tx.Commit();
    }
}
