using Jpki.Core.Store;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Jpki.Ocsp;

/// <summary>What <c>/healthz</c> shows of the archive: where it is, how much it holds, how the last run went.</summary>
public sealed record ArchiveStatus(bool Enabled, string Directory, long Files, long Bytes, DateTimeOffset? LastRun, int LastRunDays, string? LastError);

/// <summary>
/// Runs the query-log archive in the responder: at start and every <c>ocsp.archive.everyMinutes</c>,
/// one bounded pass (at most <c>maxDaysPerRun</c> days) of <see cref="OcspQueryArchiver"/>. A failed
/// pass is logged and shown in <c>/healthz</c>; the next one tries again (nothing was changed).
/// </summary>
public sealed class OcspArchiveJob(OcspQueryArchiver archiver, Database database, TimeSpan every, TimeProvider time, ILogger<OcspArchiveJob> logger) : BackgroundService
{
    private ArchiveStatus status = new(true, archiver.Options.Directory, 0, 0, null, 0, null);

    public ArchiveStatus Status => Volatile.Read(ref status);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        while (!stoppingToken.IsCancellationRequested)
        {
            RunOnce(stoppingToken);
            await Task.Delay(every, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>One pass now (the timer's, or an operator's through a test or tool); returns the files made.</summary>
    public IReadOnlyList<QueryArchive> RunOnce(CancellationToken cancellationToken = default)
    {
        IReadOnlyList<QueryArchive> made = [];
        string? error = null;
        try
        {
            made = archiver.ArchiveDueDays(cancellationToken);
            foreach (var file in made)
            {
                logger.LogInformation(
                    "OCSP query log of {Day} archived: {File}, {Rows} rows, {Bytes} bytes, sha256 {Sha256}, audit record {AuditSeq}",
                    file.Day,
                    file.FileName,
                    file.RowCount,
                    file.Bytes,
                    file.Sha256,
                    file.AuditSeq);
            }
        }
        catch (OcspArchiveException e)
        {
            error = e.Message;
            logger.LogWarning("OCSP query log archive pass stopped: {Reason}", e.Message);
        }
#pragma warning disable CA1031 // A store or disk failure must not stop the responder; the pass is retried next time.
        catch (Exception e) when (e is not OperationCanceledException)
#pragma warning restore CA1031
        {
            error = e.Message;
            logger.LogError(e, "OCSP query log archive pass failed; retrying in {Minutes} minutes", every.TotalMinutes);
        }

        Publish(made.Count, error);
        return made;
    }

    private void Publish(int days, string? error)
    {
        var (files, bytes) = (Status.Files, Status.Bytes);
        try
        {
            using var db = database.OpenConnection();
            (files, bytes) = OcspStore.ArchiveTotals(db);
        }
#pragma warning disable CA1031 // The totals are for display; the previous ones stay shown.
        catch (Exception e)
#pragma warning restore CA1031
        {
            error ??= e.Message;
        }

        Volatile.Write(ref status, new ArchiveStatus(true, archiver.Options.Directory, files, bytes, time.GetUtcNow(), days, error));
    }
}
