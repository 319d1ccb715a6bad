using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Core;
using Jpki.Core.Audit;
using Jpki.Core.Configuration;
using Jpki.Core.Store;
using Jpki.Hosting;

namespace Jpki.Ocsp;

/// <summary>Where and how the query log is archived (from <c>ocsp.archive.*</c>).</summary>
public sealed record OcspArchiveOptions
{
    public required string Directory { get; init; }

    /// <summary>Whole JST days before today that stay in the table.</summary>
    public int HotDays { get; init; } = 31;

    public int MaxDaysPerRun { get; init; } = 7;

    /// <summary>Recorded with each file: the archive directory is this machine's.</summary>
    public string Host { get; init; } = Environment.MachineName;

    public static OcspArchiveOptions From(JpkiSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var archive = settings.Ocsp.Archive;
        return new OcspArchiveOptions { Directory = settings.Resolve(archive.Directory), HotDays = archive.HotDays, MaxDaysPerRun = archive.MaxDaysPerRun };
    }
}

/// <summary>The archive did not run or a day was not archived; nothing in the store changed.</summary>
public sealed class OcspArchiveException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Moves the OCSP query log's old days out of the hot table (issue 16; docs/jpki-profile.md §9 keeps
/// access logs 7 years). For each JST day older than the hot window, oldest first: the day's rows
/// are streamed, outside the writers' lock, into <c>ocsp-queries-YYYY-MM-DD.jsonl.gz</c> (one JSON
/// object per line: id, time in UTC microseconds, verifier, issuerKeyId, serial, answer, nonce),
/// written to a temporary name, fsynced, renamed and the directory fsynced; then one write
/// transaction deletes exactly those rows, appends the <c>ocsp.queries-archived</c> audit record
/// (file, SHA-256, rows, id range) and the ocsp_query_archives row. A crash before the commit
/// leaves a file no row names, which the next run overwrites; rows that changed meanwhile (another
/// archiver won) roll the transaction back and remove this run's file. One archiver per directory
/// at a time (an exclusive lock file); several machines may each run one on a shared store.
/// </summary>
public sealed class OcspQueryArchiver(Database database, AuditLog audit, OcspArchiveOptions options, TimeProvider time)
{
    public const string Action = "ocsp.queries-archived";
    public const string Actor = "system/ocsp";
    public const string LockFileName = ".archive.lock";

    private const UnixFileMode OwnerFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerDirectory = OwnerFile | UnixFileMode.UserExecute;

    public OcspArchiveOptions Options => options;

    /// <summary>Archives the due days, oldest first, at most <see cref="OcspArchiveOptions.MaxDaysPerRun"/>; returns the files made.</summary>
    /// <exception cref="OcspArchiveException">Another archiver holds the directory, or a day's rows changed while it was written.</exception>
    public IReadOnlyList<QueryArchive> ArchiveDueDays(CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(options.Directory, OwnerDirectory);
        using var directoryLock = LockDirectory();
        var cutoffUs = Instant.ToMicros(Jst.StartOfDay(Jst.DateOf(time.GetUtcNow()).AddDays(-options.HotDays)));
        var made = new List<QueryArchive>();
        while (made.Count < options.MaxDaysPerRun && !cancellationToken.IsCancellationRequested)
        {
            long? oldestUs;
            using (var db = database.OpenConnection())
            {
                oldestUs = OcspStore.OldestQueryUs(db);
            }

            if (oldestUs is not { } oldest || oldest >= cutoffUs)
            {
                break;
            }

            made.Add(ArchiveDay(Jst.DateOf(Instant.FromMicros(oldest))));
        }

        return made;
    }

    /// <summary>The archive file name of a day's <paramref name="part"/>.</summary>
    public static string FileNameOf(string day, int part) =>
        part == 1 ? $"ocsp-queries-{day}.jsonl.gz" : string.Create(CultureInfo.InvariantCulture, $"ocsp-queries-{day}.{part}.jsonl.gz");

    private QueryArchive ArchiveDay(DateOnly date)
    {
        var day = date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var fromUs = Instant.ToMicros(Jst.StartOfDay(date));
        var toUs = Instant.ToMicros(Jst.StartOfDay(date.AddDays(1)));
        int part;
        using (var db = database.OpenConnection())
        {
            part = OcspStore.ArchiveParts(db, day) + 1;
        }

        var fileName = FileNameOf(day, part);
        var path = Path.Combine(options.Directory, fileName);
        var file = WriteFile(fromUs, toUs, path);
        try
        {
            using var tx = database.BeginWrite();
            if (file.Rows == 0 || OcspStore.ArchiveParts(tx.Connection, day, tx.Transaction) != part - 1)
            {
                throw new OcspArchiveException($"day {day} was archived by another process meanwhile");
            }

            var deleted = OcspStore.DeleteQueries(tx, fromUs, toUs, file.FirstId, file.LastId);
            if (deleted != file.Rows)
            {
                throw new OcspArchiveException($"day {day}: {file.Rows} rows written to {fileName} but {deleted} found to delete; the rows changed meanwhile");
            }

            var archive = Record(tx, day, part, fileName, file);
            tx.Commit();
            return archive;
        }
        catch (OcspArchiveException)
        {
            // This directory is locked by this run, so the file is this run's own, named by nobody.
            File.Delete(path);
            throw;
        }
    }

    /// <summary>The audit record and the archive row, in the transaction that deleted the rows.</summary>
    private QueryArchive Record(WriteTransaction tx, string day, int part, string fileName, WrittenFile file)
    {
        var entry = audit.Append(tx, new AuditRecord(Actor, Action, "ocsp_queries/" + day, new JsonObject
        {
            ["day"] = day,
            ["part"] = part,
            ["file"] = fileName,
            ["host"] = options.Host,
            ["directory"] = options.Directory,
            ["format"] = "gzip, JSON lines: id, time (UTC microseconds), verifier, issuerKeyId, serial, answer, nonce",
            ["rows"] = file.Rows,
            ["firstId"] = file.FirstId,
            ["lastId"] = file.LastId,
            ["bytes"] = file.Bytes,
            ["sha256"] = file.Sha256,
        }));
        var archive = new QueryArchive
        {
            Day = day,
            Part = part,
            FileName = fileName,
            Host = options.Host,
            RowCount = file.Rows,
            FirstId = file.FirstId,
            LastId = file.LastId,
            Bytes = file.Bytes,
            Sha256 = file.Sha256,
            AuditSeq = entry.Seq,
            ArchivedUs = Instant.NowMicros(time),
        };
        OcspStore.InsertArchive(tx, archive);
        return archive;
    }

    private sealed record WrittenFile(long Rows, long FirstId, long LastId, long Bytes, string Sha256);

    /// <summary>Streams the rows into a temporary file, fsyncs it, renames it to <paramref name="path"/> and fsyncs the directory.</summary>
    private WrittenFile WriteFile(long fromUs, long toUs, string path)
    {
        var temporary = Path.Combine(options.Directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        try
        {
            return WriteFile(fromUs, toUs, path, temporary);
        }
        catch (IOException)
        {
            // A full disk (ENOSPC) cut the file: its blocks go back now rather than at the next run.
            File.Delete(temporary);
            throw;
        }
    }

    private WrittenFile WriteFile(long fromUs, long toUs, string path, string temporary)
    {
        long rows = 0, firstId = 0, lastId = 0;
        var create = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.ReadWrite, Share = FileShare.None, UnixCreateMode = OwnerFile };
        using (var stream = new FileStream(temporary, create))
        {
            using (var gzip = new GZipStream(stream, CompressionLevel.Optimal, leaveOpen: true))
            using (var json = new Utf8JsonWriter(gzip))
            using (var db = database.OpenConnection())
            {
                foreach (var query in OcspStore.ReadQueries(db, fromUs, toUs))
                {
                    WriteLine(json, gzip, query);
                    firstId = rows == 0 ? query.Id : firstId;
                    lastId = query.Id;
                    rows++;
                }
            }

            stream.Flush(flushToDisk: true);
        }

        var bytes = new FileInfo(temporary).Length;
        string sha256;
        using (var read = File.OpenRead(temporary))
        {
            sha256 = Convert.ToHexStringLower(SHA256.HashData(read));
        }

        File.Move(temporary, path, overwrite: true);
        UnixFiles.SyncDirectory(options.Directory);
        return new WrittenFile(rows, firstId, lastId, bytes, sha256);
    }

    private static void WriteLine(Utf8JsonWriter json, Stream output, StoredQuery query)
    {
        json.WriteStartObject();
        json.WriteNumber("id", query.Id);
        json.WriteNumber("time", query.TimeUs);
        json.WriteString("verifier", query.Verifier);
        json.WriteString("issuerKeyId", query.IssuerKeyId);
        json.WriteString("serial", query.Serial);
        json.WriteString("answer", query.Answer);
        json.WriteBoolean("nonce", query.Nonce != 0);
        json.WriteEndObject();
        json.Flush();
        json.Reset();
        output.WriteByte((byte)'\n');
    }

    private FileStream LockDirectory()
    {
        try
        {
            // FileShare.None is an exclusive flock on Linux: a second archiver on this directory, in
            // this process or another, fails here instead of writing the same file names.
            return new FileStream(Path.Combine(options.Directory, LockFileName), new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                UnixCreateMode = OwnerFile,
            });
        }
        catch (IOException e)
        {
            throw new OcspArchiveException($"another archiver is working in {options.Directory}", e);
        }
    }
}
