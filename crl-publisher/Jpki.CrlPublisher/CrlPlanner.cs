using System.Data.Common;
using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Issuers;
using Jpki.Core.Store;

namespace Jpki.CrlPublisher;

/// <summary>
/// One build of a series, decided from the store's snapshot: what it lists (the mark, the base
/// and the drop cut-off), its dates and its number (reserved, so no other build takes it).
/// </summary>
internal sealed record CrlBuildPlan(
    CrlSeries Series,
    bool Delta,
    CrlIssuerKey Key,
    long Mark,
    CrlArchiveRow? Previous,
    CrlArchiveRow? BaseCrl,
    bool Final,
    byte[]? Idp,
    DateTimeOffset ThisUpdate,
    DateTimeOffset NextUpdate,
    long DropCutoffUs,
    long DropMark,
    long Number,
    DateTimeOffset Now)
{
    public string Kind => Delta ? "delta" : "complete";

    /// <summary>The <c>crl.published</c> audit record of this plan, as written.</summary>
    public AuditRecord PublishedRecord(CrlWriteResult written, string sha256, int firstListed, bool scheduled, ScheduledRun? run)
    {
        var record = new AuditRecord(SeriesPublisher.Actor, "crl.published", $"{Series.IssuerKeyId}/{Series.FileName(Delta)}", new JsonObject
        {
            ["issuerKeyId"] = Series.IssuerKeyId,
            ["scope"] = Series.StoreName,
            ["kind"] = Kind,
            ["scheduled"] = !Delta && scheduled,
            ["number"] = Number,
            ["baseNumber"] = BaseCrl?.Number,
            ["thisUpdate"] = Instant.ToMicros(ThisUpdate),
            ["nextUpdate"] = Instant.ToMicros(NextUpdate),
            ["maxChangeSeq"] = Mark,
            ["entries"] = written.EntryCount,
            ["firstListed"] = firstListed,
            ["sha256"] = sha256,
            ["size"] = written.SizeBytes,
            ["firedAt"] = run is null ? null : Instant.ToMicros(run.FireTime),
            ["node"] = run?.Node,
        });
        if (Final)
        {
            // The series ends here: nextUpdate is the root's notAfter, and no CRL of it follows.
            record.Details["final"] = true;
        }

        return record;
    }
}

/// <summary>
/// Decides the next CRL of a series from one snapshot of the store: what it lists, its number
/// (reserved in a write of its own) and its dates — backdated for slow verifier clocks, never
/// before a revocation it lists, never going back within a series.
/// </summary>
internal sealed class CrlPlanner(Database database, AuditLog audit, CrlPublisherOptions options)
{
    private readonly CrlAlarms alarms = new(database, audit);

    /// <summary>The plan of the next CRL of <paramref name="series"/>; null when there is none to build (a delta without a base, a series past its final CRL).</summary>
    public CrlBuildPlan? Plan(DbConnection db, DbTransaction snapshot, CrlSeries series, bool delta, CrlIssuerKey key)
    {
        var mark = CrlStore.Mark(db, snapshot);
        var previous = CrlStore.Latest(db, snapshot, series);
        var baseCrl = delta ? CrlStore.Latest(db, snapshot, series, "complete") : null;
        if (delta && baseCrl is null)
        {
            return null;
        }

        var now = database.Time.GetUtcNow();

        // The end of a generation (docs/crl-publisher.md, final CRLs): once a newer generation
        // issues and every end-entity certificate of this key has expired, each end-entity series
        // gets one last complete CRL valid until the root expires, and nothing after it. The ARL
        // goes on: it covers the link and CA certificates, which live as long as the root.
        var final = series.Kind != CrlScopeKind.Arl && IssuerStore.IsPastLastCertificate(db, series.IssuerKeyId, Instant.ToMicros(now), snapshot);
        if (final && (delta || SeriesPublisher.IsFinal(CrlStore.Latest(db, snapshot, series, "complete"), key)))
        {
            return null;
        }

        var lastScheduled = CrlStore.Latest(db, snapshot, series, "complete", scheduledOnly: true);
        var dropCutoffUs = lastScheduled?.ThisUpdateUs ?? long.MinValue;
        var dropMark = lastScheduled?.MaxChangeSeq ?? 0;

        // Never before a revocation it lists (RFC 5280 §5.1.2.4: thisUpdate is the CRL's issue
        // date; an entry revoked after it would be inconsistent, and the auditor trail's
        // revocation → thisUpdate latency negative). Listed, never withheld: hiding a revocation
        // for the backdate would be fail-open (docs/decisions/0260-crl-thisupdate-after-its-revocations.md).
        var thisUpdate = AfterListedRevocations(db, snapshot, series, delta, baseCrl, previous, mark, dropCutoffUs, dropMark, BackdatedThisUpdate(key, previous, now), now);
        var nextUpdate = final ? Der.TruncateToSeconds(key.NotAfter) : thisUpdate + (delta ? options.DeltaValidity : options.CompleteValidity);
        var idp = IdpOf(db, snapshot, series, key);
        long number;
        using (var reservation = database.BeginWrite())
        {
            number = CrlStore.ReserveNumber(reservation, series, mark, thisUpdate);
            reservation.Commit();
        }

        return new CrlBuildPlan(series, delta, key, mark, previous, baseCrl, final, idp, thisUpdate, nextUpdate, dropCutoffUs, dropMark, number, now);
    }

    /// <summary>
    /// Backdated for slow verifier clocks, but never before the issuer certificate's notBefore (a
    /// new key's first CRLs), never in the future, and never before the series' previous thisUpdate.
    /// </summary>
    private DateTimeOffset BackdatedThisUpdate(CrlIssuerKey key, CrlArchiveRow? previous, DateTimeOffset now)
    {
        var thisUpdate = Der.TruncateToSeconds(now - options.Backdate);
        if (thisUpdate < key.NotBefore)
        {
            thisUpdate = Der.TruncateToSeconds(key.NotBefore <= now ? key.NotBefore : now);
        }

        // A clock stepped back (an NTP step after it ran fast) must not make a CRL look older than
        // the one it replaces: thisUpdate never goes back within a series. The backdate (300 s by
        // default) keeps the clamped value in the past for any step shorter than it.
        return previous is not null && thisUpdate < Instant.FromMicros(previous.ThisUpdateUs) ? Instant.FromMicros(previous.ThisUpdateUs) : thisUpdate;
    }

    /// <summary>
    /// <paramref name="thisUpdate"/> (backdated, clamped, held), or later: the latest revocationDate
    /// among the entries this CRL lists, rounded up to a whole second (DER times have none), when
    /// that is later. Only revocations since the previous CRL's mark can be: thisUpdate never goes
    /// back within a series, so every earlier one is at or before the previous thisUpdate. When the
    /// rounding (or the revoking machine's clock, within its allowance) puts thisUpdate ahead of the
    /// clock, this waits on the store's clock until it is reached, so a CRL is never signed with a
    /// thisUpdate in the future. A revocation dated further ahead than <see cref="SeriesPublisher.MaxRevocationLead"/>
    /// is a clock error where it was revoked: it is listed as stored, never hidden, and alarmed.
    /// </summary>
    private DateTimeOffset AfterListedRevocations(
        DbConnection db,
        DbTransaction snapshot,
        CrlSeries series,
        bool delta,
        CrlArchiveRow? baseCrl,
        CrlArchiveRow? previous,
        long mark,
        long dropCutoffUs,
        long dropMark,
        DateTimeOffset thisUpdate,
        DateTimeOffset now)
    {
        var sinceMark = previous?.MaxChangeSeq ?? 0;
        var horizonUs = Instant.ToMicros(SeriesPublisher.RevocationHorizon(now));
        var listed = delta
            ? CrlStore.LatestDeltaRevocations(db, snapshot, series, baseCrl!.MaxChangeSeq, sinceMark, mark, horizonUs)
            : CrlStore.LatestCompleteRevocations(db, snapshot, series, dropCutoffUs, dropMark, sinceMark, mark, horizonUs);
        if (listed.BeyondUs is { } beyond)
        {
            alarms.RevocationAhead(series, delta, beyond, listed.BeyondCount, now);
        }

        if (listed.LatestUs is not { } us)
        {
            return thisUpdate;
        }

        var latest = Der.RoundUpToSeconds(Instant.FromMicros(us));
        if (latest <= thisUpdate)
        {
            return thisUpdate;
        }

        // On the store's clock, as every instant here. Bounded: latest is at most SeriesPublisher.MaxRevocationLead
        // + 1 s ahead; a clock that does not move in that time leaves thisUpdate ahead, and the
        // check refuses it as in the future rather than the build waiting forever.
        TimeSpan ahead;
        var waited = TimeSpan.Zero;
        while ((ahead = latest - database.Time.GetUtcNow()) > TimeSpan.Zero && waited <= SeriesPublisher.MaxRevocationLead + TimeSpan.FromSeconds(1))
        {
            Task.Delay(ahead, database.Time).GetAwaiter().GetResult();
            waited += ahead;
        }

        return latest;
    }

    private static byte[]? IdpOf(DbConnection db, DbTransaction snapshot, CrlSeries series, CrlIssuerKey key) => series.Kind switch
    {
        CrlScopeKind.Full => null,
        CrlScopeKind.Arl => key.ArlDistributionPointsDer is { } arl
            // Not onlyContainsCACerts: the ARL also lists compromised delegated OCSP responder certificates (decision 0420).
            ? CrlExtensions.IdpFromCrlDistributionPoints(arl, onlyContainsUserCerts: false, onlyContainsCaCerts: false)
            : throw new InvalidOperationException($"{key.IssuerKeyId}'s certificate has no CRL DP for its ARL"),
        _ => CrlExtensions.IdpFromCrlDistributionPoints(
            CrlStore.Municipalities(db, snapshot, series.IssuerKeyId).FirstOrDefault(m => m.Code == series.MunicipalityCode)?.CrlDpDer
                ?? throw new InvalidOperationException($"{series}: no certificate of that municipality"),
            onlyContainsUserCerts: true,
            onlyContainsCaCerts: false),
    };

    /// <summary>The ARL's IDP before decision 0420 (onlyContainsCACerts), which its published CRL may carry once after the upgrade.</summary>
    public static byte[]? FormerIdpOf(CrlSeries series, CrlIssuerKey key) =>
        series.Kind == CrlScopeKind.Arl && key.ArlDistributionPointsDer is { } arl
            ? CrlExtensions.IdpFromCrlDistributionPoints(arl, onlyContainsUserCerts: false, onlyContainsCaCerts: true)
            : null;
}
