using System.Data;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using Jpki.Core.Store;
using Microsoft.Data.Sqlite;

namespace Jpki.Core.Audit;

/// <summary>What an export wrote.</summary>
public sealed record AuditExportResult(string Directory, long FirstSeq, long LastSeq, long LastSeqInRange, int Checkpoints)
{
    /// <summary>The <c>audit.exported</c> record of this export (the API and the tool write the same one).</summary>
    public AuditRecord Record(string actor, string target, string fromText, string toText) =>
        new(actor, "audit.exported", target, new System.Text.Json.Nodes.JsonObject
        {
            ["from"] = fromText,
            ["to"] = toText,
            ["firstSeq"] = FirstSeq,
            ["lastSeq"] = LastSeq,
            ["checkpoints"] = Checkpoints,
        });
}

/// <summary>
/// Writes a self-contained bundle an outside auditor verifies with openssl and coreutils only:
/// the records of a time range as the exact bytes that were hashed (one line each), extended to
/// the first checkpoint at or after the range's last record so that every record is covered by a
/// signature; the checkpoints from the one just before the first record to that one; the
/// checkpoint keys' certificates (PEM); verify.sh and README.txt. The records are checked while
/// written: a record that does not hash to its stored hash or link to its predecessor stops the
/// export (run <c>./jpki audit verify</c>).
/// </summary>
public static class AuditExporter
{
    public static AuditExportResult Export(Database database, DateTimeOffset from, DateTimeOffset to, string directory, IReadOnlyList<byte[]> checkpointCertificates)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(checkpointCertificates);
        if (to <= from)
        {
            throw new ArgumentException("the export's --to must be after --from");
        }

        if (Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any())
        {
            throw new IOException($"{directory} is not empty: an export goes to a new directory");
        }

        using var connection = database.OpenConnection();
        using var snapshot = connection is SqliteConnection sqlite
            ? sqlite.BeginTransaction(deferred: true)
            : connection.BeginTransaction(IsolationLevel.RepeatableRead);
        var range = new { fromUs = Instant.ToMicros(from), toUs = Instant.ToMicros(to) };
        var (first, lastInRange) = connection.QuerySingle<(long?, long?)>(
            "SELECT MIN(seq), MAX(seq) FROM audit_log WHERE time_us >= @fromUs AND time_us < @toUs", range, snapshot);
        if (first is null || lastInRange is null)
        {
            throw new InvalidOperationException($"no audit records between {from:u} and {to:u}");
        }

        var cover = AuditCheckpointStore.FirstCovering(connection, lastInRange.Value, snapshot)
            ?? throw new InvalidOperationException($"no signed checkpoint covers record {lastInRange} yet");
        var checkpoints = AuditCheckpointStore.Range(connection, first.Value - 2, cover, snapshot);

        Directory.CreateDirectory(directory);
        WriteRecords(connection, snapshot, first.Value, cover, Path.Combine(directory, "records.jsonl"));
        // A handover's line without its cosignature: verify.sh checks the old key's signature of it
        // (decision 0421); audit verify, not the bundle, enforces the handover rules.
        File.WriteAllText(Path.Combine(directory, "checkpoints.jsonl"), string.Concat(checkpoints.Select(c => (c with { Cosignatures = [] }).ToFileLine() + "\n")), new UTF8Encoding(false));
        for (var i = 0; i < checkpointCertificates.Count; i++)
        {
            File.WriteAllText(Path.Combine(directory, $"checkpoint-key-{i + 1}.pem"), PemEncoding.WriteString("CERTIFICATE", checkpointCertificates[i]) + "\n");
        }

        WriteResource("audit-export/verify.sh", Path.Combine(directory, "verify.sh"));
        File.SetUnixFileMode(Path.Combine(directory, "verify.sh"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        WriteResource("audit-export/README.txt", Path.Combine(directory, "README.txt"));
        return new AuditExportResult(directory, first.Value, cover, lastInRange.Value, checkpoints.Count);
    }

    /// <summary>
    /// Records <paramref name="first"/>..<paramref name="cover"/> as JSON lines, each checked while
    /// written: it must link to its predecessor and (unless purged) hash to its stored hash.
    /// </summary>
    private static void WriteRecords(IDbConnection connection, IDbTransaction snapshot, long first, long cover, string path)
    {
        using var records = new StreamWriter(path, false, new UTF8Encoding(false)) { NewLine = "\n" };
        string? prev = null;
        foreach (var row in connection.Query<RecordRow>(
                     $"SELECT {AuditRecordRow.Columns}, prev_hash AS PrevHash, hash AS Hash, purged_by AS PurgedBy FROM audit_log WHERE seq >= @first AND seq <= @cover ORDER BY seq",
                     new { first, cover },
                     snapshot,
                     buffered: false))
        {
            if (prev is not null && !string.Equals(prev, row.PrevHash, StringComparison.Ordinal))
            {
                throw new InvalidDataException($"record {row.Seq} does not link to record {row.Seq - 1}: run ./jpki audit verify");
            }

            records.WriteLine(ExportLine(row));
            prev = row.Hash;
        }
    }

    /// <summary>A record's line: its hashed bytes, or for a purged one the stub that keeps the chain.</summary>
    private static string ExportLine(RecordRow row)
    {
        if (row.PurgedBy is { } purgedBy)
        {
            return CanonicalJson.Serialize(new JsonObject { ["hash"] = row.Hash, ["prev"] = row.PrevHash, ["purgedBy"] = purgedBy, ["seq"] = row.Seq, ["time"] = row.TimeUs });
        }

        var bytes = AuditLog.RecordBytes(row.Seq, row.TimeUs, row.Actor, row.Action, row.Subject, row.Details, row.PrevHash);
        return string.Equals(Convert.ToHexStringLower(SHA256.HashData(bytes)), row.Hash, StringComparison.Ordinal)
            ? Encoding.UTF8.GetString(bytes)
            : throw new InvalidDataException($"record {row.Seq} does not hash to its stored hash: run ./jpki audit verify");
    }

    private static void WriteResource(string name, string path)
    {
        using var resource = typeof(AuditExporter).Assembly.GetManifestResourceStream(name) ?? throw new InvalidOperationException($"resource {name} is missing");
        using var file = File.Create(path);
        resource.CopyTo(file);
    }

    /// <summary>A stored record with its chain links, as the export re-hashes it.</summary>
    private sealed class RecordRow : AuditRecordRow
    {
        public string PrevHash { get; set; } = "";

        public string Hash { get; set; } = "";

        public long? PurgedBy { get; set; }
    }
}
