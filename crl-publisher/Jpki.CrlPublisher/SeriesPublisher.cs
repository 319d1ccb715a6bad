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

    private readonly CrlAlarms alarms = new(database, audit);
    private readonly CrlPlanner planner = new(database, audit, options);

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
            var recorded = alarms.StorageFull(series, delta, Path.GetDirectoryName(PathOf(series, delta)), options.ArchiveDirectory, e);
            throw new CrlStorageFullException(
                $"storage full: {series.IssuerKeyId}/{series.FileName(delta)} not published ({e.GetBaseException().Message}); the served CRL is unchanged; "
                + (recorded ? "alarm crl.alarm.storage-full recorded" : "alarm not recorded: the store's disk is full too")
                + "; publish again once space is freed",
                recorded,
                e);
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
        if (planner.Plan(db, snapshot, series, delta, key) is not { } plan)
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
            CrlFiles.Archive(temporary, archivePath, written.Sha256);
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
            FormerIssuingDistributionPoint = CrlPlanner.FormerIdpOf(plan.Series, plan.Key),
            DropCutoffUs = plan.DropCutoffUs,
            DropMark = plan.DropMark,
        }, database);
        if (problems.Count > 0)
        {
            alarms.CheckFailed(plan.Series, plan.Delta, plan.Number, problems);
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
        audit.Append(tx, plan.PublishedRecord(written, sha256, firstListed, scheduled, run));
        // Renamed under the writers' lock, so two instances cannot put an older number over a newer one.
        File.Move(temporary, finalPath, overwrite: true);
        DirectorySync.Flush(Path.GetDirectoryName(finalPath)!);
        committing();
        tx.Commit();
        return new PublishedCrl(series, plan.Delta, plan.Number, plan.ThisUpdate, plan.NextUpdate, written.EntryCount, written.SizeBytes, sha256, finalPath);
    }

    /// <summary>The latest revocationDate a CRL built at <paramref name="now"/> moves its thisUpdate to; later ones are clock errors.</summary>
    public static DateTimeOffset RevocationHorizon(DateTimeOffset now) => now + MaxRevocationLead;

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
    public bool RaiseStaleAlarm(CrlArchiveRow crl, DateTimeOffset deadline) => alarms.Stale(crl, deadline);

    /// <summary>
    /// Removes what builds of <paramref name="series"/> that can no longer publish left behind
    /// (<see cref="CrlFiles.RemoveLeftovers"/>); the archive rows say which archive copies were published.
    /// </summary>
    private void RemoveLeftovers(CrlSeries series, long published, long previous)
    {
        IReadOnlyList<long> recorded;
        using (var db = database.OpenConnection())
        {
            recorded = CrlStore.NumbersBetween(db, series, previous, published);
        }

        CrlFiles.RemoveLeftovers(
            Path.GetDirectoryName(PathOf(series, delta: false))!,
            (series.HasDeltas ? CompleteAndDelta : CompleteOnly).Select(d => Path.GetFileName(series.FileName(d))),
            Path.GetDirectoryName(ArchivePathOf(series, published))!,
            new CrlFiles.Published(published, previous, recorded));
    }

    /// <summary>
    /// A read transaction whose reads all see one snapshot: SQLite WAL (a deferred transaction's
    /// snapshot starts at its first read), PostgreSQL REPEATABLE READ.
    /// </summary>
    private static DbTransaction BeginSnapshot(DbConnection db) =>
        db is SqliteConnection sqlite ? sqlite.BeginTransaction(deferred: true) : db.BeginTransaction(IsolationLevel.RepeatableRead);
}
