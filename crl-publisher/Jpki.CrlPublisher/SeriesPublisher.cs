using System.Data;
using System.Data.Common;
using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Issuers;
using Jpki.Core.Store;
using Jpki.Hsm;
using Microsoft.Data.Sqlite;

namespace Jpki.CrlPublisher;

/// <summary>One CRL as published.</summary>
public sealed record PublishedCrl(CrlSeries Series, bool Delta, long Number, DateTimeOffset ThisUpdate, DateTimeOffset NextUpdate, long EntryCount, long SizeBytes, string Sha256, string Path);

/// <summary>The pre-publication check refused a CRL: nothing was published.</summary>
public sealed class CrlCheckFailedException(string message) : Exception(message);

/// <summary>The archive copy of a CRL could not be made (or did not hash to what was built): nothing was published.</summary>
public sealed class CrlArchiveException(string message) : IOException(message);

/// <summary>
/// A disk was full (the CRL directory's, the archive's or the store's): nothing was published, the
/// served CRL is the previous complete one, any temporary file is removed, and the next run after
/// space is freed publishes (decision 0811). <see cref="AlarmRecorded"/>: the
/// <c>crl.alarm.storage-full</c> audit record was written (not when the store's own disk is the full one).
/// </summary>
public sealed class CrlStorageFullException(string message, bool alarmRecorded, Exception inner) : IOException(message, inner)
{
    public bool AlarmRecorded { get; } = alarmRecorded;
}

/// <summary>
/// Builds, checks and publishes the CRLs of every series. One publication: read a snapshot of the
/// store (its newest change_seq is the mark), take the series' number under the writers' lock,
/// stream the CRL from the snapshot through the HSM signer into a temporary file, fsync, check
/// it by reading it back, then under the writers' lock archive it, record first listings, audit
/// it and rename it over the published file. Correctness never depends on who calls (Quartz,
/// the console verb, several instances): the store's lock and numbering decide.
/// </summary>
public sealed class SeriesPublisher(Database database, AuditLog audit, Func<IReadOnlyDictionary<string, CrlIssuerKey>> issuerKeys, CrlPublisherOptions options)
{
    public const string Actor = "system/crl-publisher";

    /// <summary>
    /// How far ahead of this clock a listed revocation's date may be for thisUpdate to follow it (the
    /// build then waits for it): the disagreement of two clocks (the CA's, which dates revocations,
    /// and this one) that each pass the clock check (<c>clock.maxOffsetMilliseconds</c>, 1 s by
    /// default: 2 s apart at most), and a second more.
    /// </summary>
    public static readonly TimeSpan MaxRevocationLead = TimeSpan.FromSeconds(3);

    private static readonly bool[] CompleteAndDelta = [false, true];
    private static readonly bool[] CompleteOnly = [false];

    /// <summary>A publisher for a fixed set of issuer keys.</summary>
    public SeriesPublisher(Database database, AuditLog audit, IReadOnlyDictionary<string, CrlIssuerKey> issuerKeys, CrlPublisherOptions options)
        : this(database, audit, () => issuerKeys, options)
    {
    }

    /// <summary>The issuer keys it signs for now (the process's <see cref="CrlSigningKeys"/> may add some while it runs).</summary>
    public IReadOnlyDictionary<string, CrlIssuerKey> IssuerKeys => issuerKeys();

    /// <summary>
    /// Publishes every series of every signing issuer key: complete CRLs, or deltas of the series
    /// that have a published complete CRL. A series that fails does not stop the others; the
    /// failures are thrown together at the end. <paramref name="starting"/> hears each series
    /// before it is built (the console verb's progress lines: a large series takes seconds).
    /// </summary>
    public IReadOnlyList<PublishedCrl> PublishAll(bool delta, bool scheduled, ScheduledRun? run = null, Action<CrlSeries>? starting = null)
    {
        // No signature with a wrong clock: one typed refusal for the whole run, nothing signed (DeferredCrlPublications retries).
        options.Clock?.EnsureMaySign();
        var published = new List<PublishedCrl>();
        var failures = new List<Exception>();
        foreach (var series in AllSeries())
        {
            if (delta && !series.HasDeltas)
            {
                continue;
            }

            starting?.Invoke(series);
            try
            {
                // A series without a complete CRL yet (a municipality's first certificate) gets
                // one now rather than waiting up to a day for the complete schedule.
                if ((Publish(series, delta, scheduled, run) ?? (delta ? Publish(series, delta: false, scheduled: false, run) : null)) is { } crl)
                {
                    published.Add(crl);
                }
            }
            catch (CrlSupersededException)
            {
                // Another instance is publishing a newer snapshot of this series; nothing to do.
            }
#pragma warning disable CA1031 // One series' failure (already audited) must not stop the others.
            catch (Exception e)
#pragma warning restore CA1031
            {
                failures.Add(e);
            }
        }

        return failures.Count == 0 ? published : throw new AggregateException("some CRLs were not published", failures);
    }

    /// <summary>Every series of the issuer keys this publisher signs for: full, ARL, each municipality with certificates.</summary>
    public IReadOnlyList<CrlSeries> AllSeries()
    {
        using var db = database.OpenConnection();
        var series = new List<CrlSeries>();
        foreach (var keyId in IssuerKeys.Keys.Order(StringComparer.Ordinal))
        {
            series.Add(new CrlSeries(keyId, CrlScopeKind.Full));
            series.Add(new CrlSeries(keyId, CrlScopeKind.Arl));
            series.AddRange(CrlStore.Municipalities(db, null, keyId).Select(m => new CrlSeries(keyId, CrlScopeKind.Municipality, m.Code)));
        }

        return series;
    }

    public string PathOf(CrlSeries series, bool delta)
    {
        ArgumentNullException.ThrowIfNull(series);
        return Path.Combine(options.Directory, series.IssuerKeyId, series.FileName(delta));
    }

    /// <summary>Where CRL <paramref name="number"/> of <paramref name="series"/> is archived (complete CRLs and deltas share the numbering).</summary>
    public string ArchivePathOf(CrlSeries series, long number)
    {
        ArgumentNullException.ThrowIfNull(series);
        return Path.Combine(options.ArchiveDirectory, series.IssuerKeyId, series.StoreName, number.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".crl");
    }

    /// <summary>Publishes one CRL of <paramref name="series"/>; null for a delta without a published base.</summary>
    /// <exception cref="Jpki.Core.Clock.ClockUnsynchronisedException">The clock check refuses signatures; nothing was numbered or signed.</exception>
    /// <exception cref="CrlCheckFailedException">The check refused it (audited as an alarm); nothing was published.</exception>
    /// <exception cref="CrlSupersededException">A newer snapshot of the series took a number first.</exception>
    /// <exception cref="CrlArchiveException">The archive copy failed; nothing was published.</exception>
    public PublishedCrl? Publish(CrlSeries series, bool delta, bool scheduled, ScheduledRun? run = null)
    {
        // No signature with a wrong clock: refused before a number is taken.
        options.Clock?.EnsureMaySign();
        if (options.Built is not { } built)
        {
            return PublishOnDisk(series, delta, scheduled, run);
        }

        PublishedCrl? crl;
        try
        {
            crl = PublishOnDisk(series, delta, scheduled, run);
        }
        catch
        {
            built(new CrlBuildOutcome(series, delta, "failed", null));
            throw;
        }

        built(new CrlBuildOutcome(series, delta, crl is null ? "skipped" : "published", crl));
        return crl;
    }

    /// <summary>
    /// <see cref="PublishChecked"/>, with a full disk turned into <see cref="CrlStorageFullException"/>
    /// and an alarm: a build that hit ENOSPC or SQLITE_FULL removed its temporary files and published nothing.
    /// </summary>
    private PublishedCrl? PublishOnDisk(CrlSeries series, bool delta, bool scheduled, ScheduledRun? run)
    {
        try
        {
            return PublishChecked(series, delta, scheduled, run);
        }
        catch (Exception e) when (StoreFaults.IsOutOfSpace(e))
        {
            var recorded = RaiseStorageFullAlarm(series, delta, e);
            throw new CrlStorageFullException(
                $"storage full: {series.IssuerKeyId}/{series.FileName(delta)} not published ({e.GetBaseException().Message}); the served CRL is unchanged; "
                + (recorded ? "alarm crl.alarm.storage-full recorded" : "alarm not recorded: the store's disk is full too")
                + "; publish again once space is freed",
                recorded,
                e);
        }
    }

    /// <summary>Audits <c>crl.alarm.storage-full</c>; false when it cannot be written either (the store's disk is the full one).</summary>
    private bool RaiseStorageFullAlarm(CrlSeries series, bool delta, Exception error)
    {
        try
        {
            using var tx = database.BeginWrite();
            audit.Append(tx, new AuditRecord(Actor, "crl.alarm.storage-full", $"{series.IssuerKeyId}/{series.FileName(delta)}", new JsonObject
            {
                ["issuerKeyId"] = series.IssuerKeyId,
                ["scope"] = series.StoreName,
                ["kind"] = delta ? "delta" : "complete",
                ["directory"] = Path.GetDirectoryName(PathOf(series, delta)),
                ["archiveDirectory"] = options.ArchiveDirectory,
                ["error"] = error.GetBaseException().Message,
            }));
            tx.Commit();
            return true;
        }
        catch (Exception e) when (StoreFaults.IsOutOfSpace(e))
        {
            return false;
        }
    }

    private PublishedCrl? PublishChecked(CrlSeries series, bool delta, bool scheduled, ScheduledRun? run)
    {
        ArgumentNullException.ThrowIfNull(series);
        if (delta && !series.HasDeltas)
        {
            throw new ArgumentException($"{series} has no delta CRLs", nameof(delta));
        }

        var key = IssuerKeys.TryGetValue(series.IssuerKeyId, out var k) ? k : throw new ArgumentException($"no signing key for {series.IssuerKeyId}", nameof(series));
        using var db = database.OpenConnection();
        using var snapshot = BeginSnapshot(db);
        if (Plan(db, snapshot, series, delta, key) is not { } plan)
        {
            return null;
        }

        var finalPath = PathOf(series, delta);
        var directory = Path.GetDirectoryName(finalPath)!;
        System.IO.Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, $".{Path.GetFileName(finalPath)}.{plan.Number}.tmp");
        try
        {
            var written = WriteTemporary(db, snapshot, plan, temporary);
            snapshot.Commit();
            options.AfterWrite?.Invoke(temporary);
            CheckOrAlarm(plan, temporary, written);

            // Archived before the archive row commits, outside the writers' lock (a copy of a large
            // CRL takes a while); the number is this build's alone, so no other publisher writes that file.
            var archivePath = ArchivePathOf(series, plan.Number);
            Archive(temporary, archivePath, written.Sha256);
            var crl = Commit(plan, written, temporary, archivePath, finalPath, scheduled, run);
            RemoveLeftovers(series, plan.Number, plan.Previous?.Number ?? 0);
            return crl;
        }
        catch (FileNotFoundException) when (!File.Exists(temporary))
        {
            // A publication of a higher number removed this build's file (RemoveLeftovers): this
            // number can no longer be published, exactly as if the commit had found it superseded.
            throw new CrlSupersededException($"{series}: a newer publication removed the file of number {plan.Number} while it was checked");
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>
    /// One build of a series, decided from the store's snapshot: what it lists (the mark, the base
    /// and the drop cut-off), its dates and its number (reserved, so no other build takes it).
    /// </summary>
    private sealed record CrlBuildPlan(
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
    }

    /// <summary>The plan of the next CRL of <paramref name="series"/>; null when there is none to build (a delta without a base, a series past its final CRL).</summary>
    private CrlBuildPlan? Plan(DbConnection db, DbTransaction snapshot, CrlSeries series, bool delta, CrlIssuerKey key)
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
        if (final && (delta || IsFinal(CrlStore.Latest(db, snapshot, series, "complete"), key)))
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

    /// <summary>Streams the planned CRL from the snapshot through the HSM signer into <paramref name="temporary"/>, fsynced.</summary>
    private CrlWriteResult WriteTemporary(DbConnection db, DbTransaction snapshot, CrlBuildPlan plan, string temporary)
    {
        var series = plan.Series;
        var content = new CrlContent
        {
            IssuerNameDer = plan.Key.IssuerNameDer,
            AuthorityKeyIdentifier = plan.Key.KeyIdentifier,
            ThisUpdate = plan.ThisUpdate,
            NextUpdate = plan.NextUpdate,
            Number = plan.Number,
            IssuingDistributionPoint = plan.Idp,
            DeltaBaseNumber = plan.BaseCrl?.Number,
            // A final CRL names no delta: none will follow it.
            FreshestCrlUrl = !plan.Delta && series.HasDeltas && !plan.Final ? series.Url(options.CrlBase, delta: true) : null,
        };
        Func<IEnumerable<CrlEntryRow>> entries = plan.Delta
            ? () => CrlStore.DeltaEntries(db, snapshot, database.Dialect, series, plan.BaseCrl!.MaxChangeSeq, plan.Mark)
            : () => CrlStore.CompleteEntries(db, snapshot, database.Dialect, series, plan.DropCutoffUs, plan.DropMark);
        using var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024);
        var size = plan.Delta
            ? CrlStore.DeltaEntriesSize(db, snapshot, series, plan.BaseCrl!.MaxChangeSeq, plan.Mark)
            : CrlStore.CompleteEntriesSize(db, snapshot, series, plan.DropCutoffUs, plan.DropMark);
        var written = CrlWriter.Write(file, content, entries, plan.Key.Signer, SignatureAlgorithm.RsaPkcs1Sha256, size);
        file.Flush(flushToDisk: true);
        return written;
    }

    /// <summary>Reads the written CRL back against what was planned; a problem raises the alarm and publishes nothing.</summary>
    private void CheckOrAlarm(CrlBuildPlan plan, string temporary, CrlWriteResult written)
    {
        var now = database.Time.GetUtcNow();
        var previousThisUpdate = plan.Previous is null ? (DateTimeOffset?)null : Instant.FromMicros(plan.Previous.ThisUpdateUs);
        var problems = CrlChecker.Check(temporary, new CrlExpectations
        {
            IssuerSubjectPublicKeyInfo = plan.Key.SubjectPublicKeyInfo,
            IssuerNameDer = plan.Key.IssuerNameDer,
            Number = plan.Number,
            LastPublishedNumber = plan.Previous?.Number,
            IssuingDistributionPoint = plan.Idp,
            DeltaBaseNumber = plan.BaseCrl?.Number,
            EntryCount = written.EntryCount,
            LatestThisUpdate = previousThisUpdate > now ? previousThisUpdate.Value : now,
            // The horizon of the build's start, as the thisUpdate rule used it.
            RevocationsAheadAfter = RevocationHorizon(plan.Now),
            PreviousCompletePath = plan.Delta ? null : PathOf(plan.Series, delta: false),
            PreviousPath = PathOf(plan.Series, delta: false),
            FormerIssuingDistributionPoint = FormerIdpOf(plan.Series, plan.Key),
            DropCutoffUs = plan.DropCutoffUs,
            DropMark = plan.DropMark,
        }, database);
        if (problems.Count > 0)
        {
            RaiseCheckAlarm(plan.Series, plan.Delta, plan.Number, problems);
            throw new CrlCheckFailedException($"{plan.Series} {plan.Kind} {plan.Number} failed its check: {string.Join("; ", problems)}");
        }
    }

    /// <summary>
    /// Under the writers' lock: refuses a build superseded meanwhile, records the archive row, the
    /// first listings and the audit record, and renames the checked file over the published one.
    /// </summary>
    private PublishedCrl Commit(CrlBuildPlan plan, CrlWriteResult written, string temporary, string archivePath, string finalPath, bool scheduled, ScheduledRun? run)
    {
        var committing = false;
        try
        {
            return CommitUnderLock(plan, written, temporary, finalPath, scheduled, run, () => committing = true);
        }
        finally
        {
            if (!committing)
            {
                // Not published (superseded, or the transaction failed before its COMMIT): no archive
                // file without its row. A COMMIT that fails has an unknown outcome: the copy stays.
                File.Delete(archivePath);
            }
        }
    }

    private PublishedCrl CommitUnderLock(CrlBuildPlan plan, CrlWriteResult written, string temporary, string finalPath, bool scheduled, ScheduledRun? run, Action committing)
    {
        var series = plan.Series;
        using var tx = database.BeginWrite();
        var latest = CrlStore.Latest(tx.Connection, tx.Transaction, series);
        if (latest is not null && latest.Number >= plan.Number)
        {
            throw new CrlSupersededException($"{series}: number {latest.Number} was published while {plan.Number} was built");
        }

        // One final CRL per series, even when two publishers built one at once.
        if (plan.Final && IsFinal(CrlStore.Latest(tx.Connection, tx.Transaction, series, "complete"), plan.Key))
        {
            throw new CrlSupersededException($"{series}: its final CRL was published while {plan.Number} was built");
        }

        var sha256 = Convert.ToHexStringLower(written.Sha256);
        CrlStore.Insert(tx, new CrlArchiveRow
        {
            IssuerKeyId = series.IssuerKeyId,
            Scope = series.StoreName,
            Number = plan.Number,
            Kind = plan.Kind,
            Scheduled = !plan.Delta && scheduled ? 1 : 0,
            ThisUpdateUs = Instant.ToMicros(plan.ThisUpdate),
            NextUpdateUs = Instant.ToMicros(plan.NextUpdate),
            BaseNumber = plan.BaseCrl?.Number,
            MaxChangeSeq = plan.Mark,
            EntryCount = written.EntryCount,
            Sha256 = sha256,
            SizeBytes = written.SizeBytes,
            PublishedUs = Instant.NowMicros(database.Time),
        });
        var firstListed = CrlStore.RecordFirstListings(tx, series, plan.Number, Instant.ToMicros(plan.ThisUpdate), plan.Previous?.MaxChangeSeq ?? 0, plan.Mark);
        audit.Append(tx, PublishedRecord(plan, written, sha256, firstListed, scheduled, run));
        // Renamed under the writers' lock, so two instances cannot put an older number over a newer one.
        File.Move(temporary, finalPath, overwrite: true);
        DirectorySync.Flush(Path.GetDirectoryName(finalPath)!);
        committing();
        tx.Commit();
        return new PublishedCrl(series, plan.Delta, plan.Number, plan.ThisUpdate, plan.NextUpdate, written.EntryCount, written.SizeBytes, sha256, finalPath);
    }

    private static AuditRecord PublishedRecord(CrlBuildPlan plan, CrlWriteResult written, string sha256, int firstListed, bool scheduled, ScheduledRun? run)
    {
        var series = plan.Series;
        var record = new AuditRecord(Actor, "crl.published", $"{series.IssuerKeyId}/{series.FileName(plan.Delta)}", new JsonObject
        {
            ["issuerKeyId"] = series.IssuerKeyId,
            ["scope"] = series.StoreName,
            ["kind"] = plan.Kind,
            ["scheduled"] = !plan.Delta && scheduled,
            ["number"] = plan.Number,
            ["baseNumber"] = plan.BaseCrl?.Number,
            ["thisUpdate"] = Instant.ToMicros(plan.ThisUpdate),
            ["nextUpdate"] = Instant.ToMicros(plan.NextUpdate),
            ["maxChangeSeq"] = plan.Mark,
            ["entries"] = written.EntryCount,
            ["firstListed"] = firstListed,
            ["sha256"] = sha256,
            ["size"] = written.SizeBytes,
            ["firedAt"] = run is null ? null : Instant.ToMicros(run.FireTime),
            ["node"] = run?.Node,
        });
        if (plan.Final)
        {
            // The series ends here: nextUpdate is the root's notAfter, and no CRL of it follows.
            record.Details["final"] = true;
        }

        return record;
    }

    /// <summary>
    /// <paramref name="thisUpdate"/> (backdated, clamped, held), or later: the latest revocationDate
    /// among the entries this CRL lists, rounded up to a whole second (DER times have none), when
    /// that is later. Only revocations since the previous CRL's mark can be: thisUpdate never goes
    /// back within a series, so every earlier one is at or before the previous thisUpdate. When the
    /// rounding (or the revoking machine's clock, within its allowance) puts thisUpdate ahead of the
    /// clock, this waits on the store's clock until it is reached, so a CRL is never signed with a
    /// thisUpdate in the future. A revocation dated further ahead than <see cref="MaxRevocationLead"/>
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
        var horizonUs = Instant.ToMicros(RevocationHorizon(now));
        var listed = delta
            ? CrlStore.LatestDeltaRevocations(db, snapshot, series, baseCrl!.MaxChangeSeq, sinceMark, mark, horizonUs)
            : CrlStore.LatestCompleteRevocations(db, snapshot, series, dropCutoffUs, dropMark, sinceMark, mark, horizonUs);
        if (listed.BeyondUs is { } beyond)
        {
            RaiseRevocationAheadAlarm(series, delta, beyond, listed.BeyondCount, now);
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

        // On the store's clock, as every instant here. Bounded: latest is at most MaxRevocationLead
        // + 1 s ahead; a clock that does not move in that time leaves thisUpdate ahead, and the
        // check refuses it as in the future rather than the build waiting forever.
        TimeSpan ahead;
        var waited = TimeSpan.Zero;
        while ((ahead = latest - database.Time.GetUtcNow()) > TimeSpan.Zero && waited <= MaxRevocationLead + TimeSpan.FromSeconds(1))
        {
            Task.Delay(ahead, database.Time).GetAwaiter().GetResult();
            waited += ahead;
        }

        return latest;
    }

    /// <summary>The latest revocationDate a CRL built at <paramref name="now"/> moves its thisUpdate to; later ones are clock errors.</summary>
    public static DateTimeOffset RevocationHorizon(DateTimeOffset now) => now + MaxRevocationLead;

    private void RaiseRevocationAheadAlarm(CrlSeries series, bool delta, long latestUs, long count, DateTimeOffset now)
    {
        using var tx = database.BeginWrite();
        audit.Append(tx, new AuditRecord(Actor, "crl.alarm.revocation-ahead", $"{series.IssuerKeyId}/{series.FileName(delta)}", new JsonObject
        {
            ["issuerKeyId"] = series.IssuerKeyId,
            ["scope"] = series.StoreName,
            ["kind"] = delta ? "delta" : "complete",
            ["revokedAt"] = latestUs,
            ["entries"] = count,
            ["now"] = Instant.ToMicros(now),
        }));
        tx.Commit();
    }

    /// <summary>
    /// Whether <paramref name="complete"/> is its series' final CRL: valid until the issuer's root
    /// expires. Only the final-CRL rule dates a nextUpdate that far (a regular complete CRL is valid
    /// for <c>crl.completeValidityHours</c>), so the store needs no marker of its own.
    /// </summary>
    public static bool IsFinal(CrlArchiveRow? complete, CrlIssuerKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return complete is { Kind: "complete" } && complete.NextUpdateUs >= Instant.ToMicros(Der.TruncateToSeconds(key.NotAfter));
    }

    /// <summary>Audits a staleness alarm for an archived CRL once (across instances); true when this call raised it.</summary>
    public bool RaiseStaleAlarm(CrlArchiveRow crl, DateTimeOffset deadline)
    {
        ArgumentNullException.ThrowIfNull(crl);
        using var tx = database.BeginWrite();
        if (!CrlStore.MarkStaleAlarm(tx, crl.Id, Instant.NowMicros(database.Time)))
        {
            return false;
        }

        audit.Append(tx, new AuditRecord(Actor, "crl.alarm.stale", $"{crl.IssuerKeyId}/{crl.Scope}", new JsonObject
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

    /// <summary>
    /// Removes what builds of <paramref name="series"/> that can no longer publish left behind: a
    /// process killed while it built (SIGKILL, a power cut) runs no finally block. Temporary files
    /// numbered below <paramref name="published"/> (their commit would be refused as superseded), and
    /// archive copies numbered between the previous publication and this one without an archive row
    /// (killed between the archive copy and the commit). Best effort: a file already gone, or an I/O
    /// error, leaves the rest for the next publication (docs/decisions/0251-crl-leftovers-of-killed-builds.md).
    /// </summary>
    private void RemoveLeftovers(CrlSeries series, long published, long previous)
    {
        try
        {
            var directory = Path.GetDirectoryName(PathOf(series, delta: false))!;
            foreach (var name in (series.HasDeltas ? CompleteAndDelta : CompleteOnly).Select(d => Path.GetFileName(series.FileName(d))))
            {
                DeleteNumberedBelow(directory, $".{name}.", ".tmp", published);
            }

            var archive = Path.GetDirectoryName(ArchivePathOf(series, published))!;
            DeleteNumberedBelow(archive, ".", ".crl.tmp", published);
            IReadOnlyList<long> recorded;
            using (var db = database.OpenConnection())
            {
                recorded = CrlStore.NumbersBetween(db, series, previous, published);
            }

            foreach (var file in System.IO.Directory.EnumerateFiles(archive, "*.crl"))
            {
                if (NumberOf(Path.GetFileName(file), "", ".crl") is { } number && number > previous && number < published && !recorded.Contains(number))
                {
                    File.Delete(file);
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static void DeleteNumberedBelow(string directory, string prefix, string suffix, long published)
    {
        foreach (var file in System.IO.Directory.EnumerateFiles(directory, prefix + "*" + suffix))
        {
            if (NumberOf(Path.GetFileName(file), prefix, suffix) is { } number && number < published)
            {
                File.Delete(file);
            }
        }
    }

    /// <summary>The number in <c>{prefix}{number}{suffix}</c>; null for any other name.</summary>
    private static long? NumberOf(string name, string prefix, string suffix) =>
        name.Length > prefix.Length + suffix.Length && name.StartsWith(prefix, StringComparison.Ordinal) && name.EndsWith(suffix, StringComparison.Ordinal)
        && long.TryParse(name.AsSpan(prefix.Length, name.Length - prefix.Length - suffix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number)
            ? number
            : null;

    /// <summary>
    /// Copies the checked temporary file to the archive with the published file's discipline:
    /// write a temporary file, fsync, check its SHA-256 against what was built (the digest the
    /// archive row records), rename (never over an existing file), fsync the directory.
    /// </summary>
    private static void Archive(string source, string destination, byte[] sha256)
    {
        var directory = Path.GetDirectoryName(destination)!;
        System.IO.Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, $".{Path.GetFileName(destination)}.tmp");
        try
        {
            using (var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024))
            using (var output = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024))
            using (var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256))
            {
                var buffer = new byte[64 * 1024];
                int read;
                while ((read = input.Read(buffer)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    output.Write(buffer, 0, read);
                }

                output.Flush(flushToDisk: true);
                if (!hash.GetHashAndReset().AsSpan().SequenceEqual(sha256))
                {
                    throw new CrlArchiveException($"the archive copy {destination} does not hash to the CRL that was built");
                }
            }

            File.Move(temporary, destination, overwrite: false);
            DirectorySync.Flush(directory);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private void RaiseCheckAlarm(CrlSeries series, bool delta, long number, IReadOnlyList<string> problems)
    {
        using var tx = database.BeginWrite();
        audit.Append(tx, new AuditRecord(Actor, "crl.alarm.check-failed", $"{series.IssuerKeyId}/{series.FileName(delta)}", new JsonObject
        {
            ["issuerKeyId"] = series.IssuerKeyId,
            ["scope"] = series.StoreName,
            ["kind"] = delta ? "delta" : "complete",
            ["number"] = number,
            ["problems"] = new JsonArray([.. problems.Take(20).Select(p => (JsonNode)p)]),
        }));
        tx.Commit();
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

    /// <summary>
    /// A read transaction whose reads all see one snapshot: SQLite WAL (a deferred transaction's
    /// snapshot starts at its first read), PostgreSQL REPEATABLE READ.
    /// </summary>
    /// <summary>The ARL's IDP before decision 0420 (onlyContainsCACerts), which its published CRL may carry once after the upgrade.</summary>
    private static byte[]? FormerIdpOf(CrlSeries series, CrlIssuerKey key) =>
        series.Kind == CrlScopeKind.Arl && key.ArlDistributionPointsDer is { } arl
            ? CrlExtensions.IdpFromCrlDistributionPoints(arl, onlyContainsUserCerts: false, onlyContainsCaCerts: true)
            : null;

    private static DbTransaction BeginSnapshot(DbConnection db) =>
        db is SqliteConnection sqlite ? sqlite.BeginTransaction(deferred: true) : db.BeginTransaction(IsolationLevel.RepeatableRead);
}
