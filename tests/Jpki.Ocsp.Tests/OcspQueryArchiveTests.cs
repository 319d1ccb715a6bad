using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using Jpki.Core;
using Jpki.Core.Audit;
using Jpki.Core.Configuration;
using Jpki.Core.Store;

namespace Jpki.Ocsp.Tests;

/// <summary>
/// The query log's archive on both engines (a fresh store per test), with the install's real
/// checkpoint key in SoftHSM: days older than the hot window leave the table for gzip files that
/// gzip and sha256sum read back, each recorded in the audit chain, which still verifies.
/// </summary>
[Collection(OcspTestGroup.Name)]
public abstract class OcspQueryArchiveTests(IStoreFixture store, OcspFixture ocsp)
{
    // 12:00 JST on 2026-11-22; with 31 hot days the first day kept is 2026-10-22 (JST).
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 3, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset CutoffUtc = new(2026, 10, 21, 15, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Days_older_than_the_hot_window_go_to_gzip_files_named_in_the_audit_chain_and_leave_the_table()
    {
        using var archive = NewArchive(nameof(Days_older_than_the_hot_window_go_to_gzip_files_named_in_the_audit_chain_and_leave_the_table));
        // 2026-10-01 JST runs from 2026-09-30T15:00Z to 2026-10-01T15:00Z.
        archive.Append(
            new OcspQueryRecord("verifier-a", "k1", "0a01", "good", false, Us(new DateTimeOffset(2026, 9, 30, 15, 0, 0, TimeSpan.Zero))),
            new OcspQueryRecord("verifier-a", null, null, "malformedRequest", false, Us(new DateTimeOffset(2026, 10, 1, 3, 0, 0, TimeSpan.Zero))),
            new OcspQueryRecord("network:10.0.0.0/8", "k1", "0a02", "revoked", true, Us(new DateTimeOffset(2026, 10, 1, 15, 0, 0, TimeSpan.Zero)) - 1),
            new OcspQueryRecord("verifier-b", "k2", "0a03", "unknown", false, Us(CutoffUtc) - 1), // last microsecond of 2026-10-21 JST
            new OcspQueryRecord("verifier-b", "k2", "0a04", "good", false, Us(CutoffUtc)), // first of the hot window
            new OcspQueryRecord("verifier-b", "k2", "0a05", "good", false, Us(Now)));
        var auditHeadBefore = archive.AuditHead();

        var made = archive.Archiver.ArchiveDueDays();

        Assert.Equal(["2026-10-01", "2026-10-21"], made.Select(a => a.Day));
        Assert.Equal([3L, 1], made.Select(a => a.RowCount));
        Assert.Equal(["0a04", "0a05"], archive.Serials());
        var first = archive.ReadBack(made[0]);
        Assert.Equal(3, first.Count);
        Assert.Equal(["0a01", null, "0a02"], first.Select(l => (string?)l["serial"]));
        Assert.Equal(JsonNode.Parse("""{"verifier":"network:10.0.0.0/8","issuerKeyId":"k1","serial":"0a02","answer":"revoked","nonce":true}""")!.ToJsonString(), Without(first[2], "id", "time").ToJsonString());
        Assert.Equal(Us(new DateTimeOffset(2026, 9, 30, 15, 0, 0, TimeSpan.Zero)), (long)first[0]["time"]!);
        Assert.Equal("0a03", (string?)Assert.Single(archive.ReadBack(made[1]))["serial"]);

        foreach (var file in made)
        {
            var details = archive.AuditDetails(file.AuditSeq, OcspQueryArchiver.Action);
            Assert.Equal(file.FileName, (string?)details["file"]);
            Assert.Equal(archive.Sha256Sum(file.FileName), (string?)details["sha256"]);
            Assert.Equal(file.Sha256, (string?)details["sha256"]);
            Assert.Equal(file.RowCount, (long)details["rows"]!);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(archive.PathOf(file)));
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(archive.Directory));
        Assert.Equal(auditHeadBefore + 2, archive.AuditHead());
        var verification = archive.VerifyAudit();
        Assert.True(verification.IsValid, verification.ToString());
        Assert.Equal(made.Count, archive.Listed().Count);
        Assert.Equal((2L, made.Sum(a => a.Bytes)), archive.Totals());
        Assert.Empty(archive.Archiver.ArchiveDueDays());
        Assert.Equal(["ocsp-queries-2026-10-01.jsonl.gz", "ocsp-queries-2026-10-21.jsonl.gz"], archive.FilesOnDisk());
    }

    [Fact]
    public void A_file_left_by_a_crash_before_the_commit_is_overwritten_and_rows_arriving_later_go_to_a_second_part()
    {
        using var archive = NewArchive(nameof(A_file_left_by_a_crash_before_the_commit_is_overwritten_and_rows_arriving_later_go_to_a_second_part));
        var day = new DateTimeOffset(2026, 10, 5, 1, 0, 0, TimeSpan.Zero);
        archive.Append(new OcspQueryRecord("verifier-a", "k1", "0b01", "good", false, Us(day)));
        Directory.CreateDirectory(archive.Directory);
        File.WriteAllText(Path.Combine(archive.Directory, "ocsp-queries-2026-10-05.jsonl.gz"), "half-written by a process that died");

        var firstPart = Assert.Single(archive.Archiver.ArchiveDueDays());
        Assert.Equal("ocsp-queries-2026-10-05.jsonl.gz", firstPart.FileName);
        Assert.Equal(firstPart.Sha256, archive.Sha256Sum(firstPart.FileName));
        Assert.Equal("0b01", (string?)Assert.Single(archive.ReadBack(firstPart))["serial"]);

        archive.Append(new OcspQueryRecord("verifier-a", "k1", "0b02", "good", false, Us(day.AddHours(1))));
        var secondPart = Assert.Single(archive.Archiver.ArchiveDueDays());
        Assert.Equal(("2026-10-05", 2, "ocsp-queries-2026-10-05.2.jsonl.gz"), (secondPart.Day, secondPart.Part, secondPart.FileName));
        Assert.Equal("0b02", (string?)Assert.Single(archive.ReadBack(secondPart))["serial"]);
        Assert.Equal(firstPart.Sha256, archive.Sha256Sum(firstPart.FileName));
        Assert.True(archive.VerifyAudit().IsValid);
    }

    [Fact]
    public void A_second_archiver_on_the_same_directory_is_refused_with_a_typed_error_and_changes_nothing()
    {
        using var archive = NewArchive(nameof(A_second_archiver_on_the_same_directory_is_refused_with_a_typed_error_and_changes_nothing));
        archive.Append(new OcspQueryRecord("verifier-a", "k1", "0c01", "good", false, Us(new DateTimeOffset(2026, 9, 1, 0, 0, 0, TimeSpan.Zero))));
        Directory.CreateDirectory(archive.Directory);
        var head = archive.AuditHead();
        using (new FileStream(Path.Combine(archive.Directory, OcspQueryArchiver.LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var refused = Assert.Throws<OcspArchiveException>(() => archive.Archiver.ArchiveDueDays());
            Assert.Contains("another archiver", refused.Message, StringComparison.Ordinal);
        }

        Assert.Equal(["0c01"], archive.Serials());
        Assert.Equal(head, archive.AuditHead());
        Assert.Empty(archive.FilesOnDisk());
        Assert.Single(archive.Archiver.ArchiveDueDays());
    }

    [Fact]
    public void A_hot_window_below_one_day_is_refused_when_the_settings_are_loaded()
    {
        var home = Path.Combine(store.ScratchDirectory, "settings-" + store.Dialect);
        JpkiSettings.Load(home);
        var file = Path.Combine(home, JpkiSettings.FileName);
        var json = JsonNode.Parse(File.ReadAllText(file))!;
        Assert.Equal(31, (int)json["ocsp"]!["archive"]!["hotDays"]!);
        json["ocsp"]!["archive"]!["hotDays"] = 0;
        File.WriteAllText(file, json.ToJsonString());
        var error = Assert.Throws<InvalidDataException>(() => JpkiSettings.Load(home));
        Assert.Contains("ocsp.archive", error.Message, StringComparison.Ordinal);
    }

    private static long Us(DateTimeOffset instant) => Instant.ToMicros(instant);

    private static JsonObject Without(JsonObject line, params string[] names)
    {
        var copy = (JsonObject)line.DeepClone();
        foreach (var name in names)
        {
            copy.Remove(name);
        }

        return copy;
    }

    private ArchiveUnderTest NewArchive(string test)
    {
        var name = "arch_" + test.ToLowerInvariant()[..Math.Min(30, test.Length)];
        var database = new Database(store.CreateStore(name), new ManualClock(Now));
        Migrator.ApplyPending(database);
        var directory = Path.Combine(store.ScratchDirectory, name, "archive");
        var checkpointFile = Path.Combine(store.ScratchDirectory, name, "checkpoints");
        var signer = ocsp.IssuerSigner("audit-checkpoint-1");
        var audit = new AuditLog(signer, new AuditOptions { CheckpointFilePath = checkpointFile, CheckpointEveryRecords = 1 });
        var archiver = new OcspQueryArchiver(database, audit, new OcspArchiveOptions { Directory = directory, HotDays = 31 }, database.Time);
        return new ArchiveUnderTest(database, archiver, directory, signer.SubjectPublicKeyInfo, checkpointFile);
    }

    private sealed class ArchiveUnderTest(Database database, OcspQueryArchiver archiver, string directory, byte[] checkpointKey, string checkpointFile) : IDisposable
    {
        public OcspQueryArchiver Archiver => archiver;

        public string Directory => directory;

        public void Append(params OcspQueryRecord[] records)
        {
            using var tx = database.BeginWrite();
            OcspStore.AppendQueries(tx, records);
            tx.Commit();
        }

        public List<string?> Serials()
        {
            using var db = database.OpenConnection();
            return db.Query<string?>("SELECT serial FROM ocsp_queries ORDER BY id").AsList();
        }

        public long AuditHead()
        {
            using var db = database.OpenConnection();
            return db.ExecuteScalar<long>("SELECT seq FROM chain_head WHERE id = 1");
        }

        public JsonObject AuditDetails(long seq, string action)
        {
            using var db = database.OpenConnection();
            var row = db.QuerySingle<(string Action, string Details)>("SELECT action, details FROM audit_log WHERE seq = @seq", new { seq });
            Assert.Equal(action, row.Action);
            return JsonNode.Parse(row.Details)!.AsObject();
        }

        public AuditVerification VerifyAudit() => AuditVerifier.Verify(database, checkpointKey, checkpointFile);

        public IReadOnlyList<QueryArchive> Listed()
        {
            using var db = database.OpenConnection();
            return OcspStore.ListArchives(db);
        }

        public (long Files, long Bytes) Totals()
        {
            using var db = database.OpenConnection();
            return OcspStore.ArchiveTotals(db);
        }

        public string PathOf(QueryArchive archive) => Path.Combine(directory, archive.FileName);

        public List<string> FilesOnDisk() =>
            System.IO.Directory.Exists(directory)
                ? System.IO.Directory.GetFiles(directory).Select(f => Path.GetFileName(f)).Where(n => !n.StartsWith('.')).Order(StringComparer.Ordinal).ToList()
                : [];

        /// <summary>The file's lines as gzip itself decompresses them (an independent reader).</summary>
        public List<JsonObject> ReadBack(QueryArchive archive)
        {
            var text = ExternalProcess.RunOrThrow("gzip", "-dc", PathOf(archive));
            return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        }

        public string Sha256Sum(string fileName) =>
            ExternalProcess.RunOrThrow("sha256sum", Path.Combine(directory, fileName)).Split(' ')[0];

        public void Dispose() => database.Dispose();
    }
}

public sealed class SqliteOcspQueryArchiveTests(SqliteStoreFixture store, OcspFixture ocsp) : OcspQueryArchiveTests(store, ocsp), IClassFixture<SqliteStoreFixture>;

public sealed class PostgresOcspQueryArchiveTests(PostgresStoreFixture store, OcspFixture ocsp) : OcspQueryArchiveTests(store, ocsp), IClassFixture<PostgresStoreFixture>;
