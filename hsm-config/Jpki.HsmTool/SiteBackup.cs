using System.Diagnostics;
using System.Formats.Tar;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Cli;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Jpki.Hsm;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Jpki.HsmTool;

/// <summary>What a site backup holds besides the files: where the store and the audit chain stood.</summary>
internal sealed record SiteBackupManifest(
    string Format,
    long CreatedUs,
    string Store,
    long AuditHeadSeq,
    string AuditHeadHash,
    long FeedCursor,
    string TokenLabel,
    IReadOnlyDictionary<string, string> Files)
{
    public const string Name = "BACKUP.json";
    public const string CurrentFormat = "jpki-site-backup-v1";
}

/// <summary>
/// <c>./jpki backup</c>: one archive a fresh machine can be rebuilt from — a consistent copy of
/// the store (SQLite's online backup API; <c>pg_dump</c> on PostgreSQL), the token's files (the
/// <c>hsm backup</c> code), the configuration, the published certificates and CRLs, the audit
/// checkpoint file — encrypted with <c>age</c> to the recipients in
/// <c>$JPKI_HOME/backup/recipients.txt</c>. It never holds a PIN or an account's secret
/// (<c>secrets/</c> stays out): those are escrowed by <c>backup escrow</c> (decision 0450).
/// </summary>
internal sealed class SiteBackup(ToolContext context, StepProgress progress)
{
    /// <summary>Files of the home that go into the archive (relative to JPKI_HOME); directories are taken whole.</summary>
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private static readonly string[] HomeEntries = ["jpki.json", "certs", "crl", "crl-archive", "tls", "audit/checkpoints", "backup/recipients.txt"];

    public static string RecipientsFile(string home) => Path.Combine(home, "backup", "recipients.txt");

    public int Run(string archivePath)
    {
        var home = context.Settings.Home;
        var recipients = RecipientsFile(home);
        if (!File.Exists(recipients))
        {
            throw new InvalidOperationException($"no backup recipient: {recipients} is missing; run ./jpki backup escrow first (docs/runbooks/disaster-recovery.md)");
        }

        var staging = Directory.CreateDirectory(Path.Combine(home, "backup", $"staging-{Environment.ProcessId}")).FullName;
        try
        {
            var files = new SortedDictionary<string, string>(StringComparer.Ordinal);

            // The store first: its snapshot is the point the restore comes back to; every file
            // taken after it is at least as new (certificates, CRLs, the checkpoint file).
            progress.Step("store snapshot");
            var (storeKind, storeEntry) = SnapshotStore(staging);
            var (headSeq, headHash, cursor) = ReadSnapshotState(Path.Combine(staging, storeEntry), storeKind);
            files[storeEntry] = Sha256(Path.Combine(staging, storeEntry));

            progress.Step($"token '{context.Settings.TokenLabel}' (its SoftHSM files, under the token store lock)");
            var tokenTar = Path.Combine(staging, "token", "token.tar");
            Directory.CreateDirectory(Path.GetDirectoryName(tokenTar)!);
            TokenFiles().Backup(context.Settings.TokenLabel, tokenTar);
            files["token/token.tar"] = Sha256(tokenTar);

            progress.Step("configuration, certificates, CRLs, TLS listener files, audit checkpoints");
            CopyHomeEntries(home, staging, files);

            var manifest = new SiteBackupManifest(SiteBackupManifest.CurrentFormat, Instant.NowMicros(TimeProvider.System), storeKind, headSeq, headHash, cursor, context.Settings.TokenLabel, files);
            File.WriteAllBytes(Path.Combine(staging, SiteBackupManifest.Name), JsonSerializer.SerializeToUtf8Bytes(manifest, Indented));

            progress.Step($"archive encrypted with age to {recipients}");
            Encrypt(staging, Path.Combine(home, "backup", $"site-{Environment.ProcessId}.tar"), recipients, archivePath);
            var archiveSha256 = Sha256(archivePath);
            var size = new FileInfo(archivePath).Length;

            progress.Step("audit record backup.created");
            AuditedStep.Record(context, "backup.created", Path.GetFileName(archivePath), new JsonObject
            {
                ["archive"] = archivePath,
                ["archiveSha256"] = archiveSha256,
                ["bytes"] = size,
                ["store"] = storeKind,
                ["auditHeadSeq"] = headSeq,
                ["feedCursor"] = cursor,
                ["files"] = files.Count,
            });
            context.Output.WriteLine($"backed up the install to {archivePath} ({size} bytes, SHA-256 {archiveSha256})");
            context.Output.WriteLine($"  store ({storeKind}) at audit record {headSeq}, Juki-Net cursor {cursor}; token '{context.Settings.TokenLabel}'; {files.Count} files; encrypted with age to {recipients}");
            context.Output.WriteLine("  no PIN and no account secret is in it: a restore needs the escrow shares of the officers (./jpki restore --help)");
            return 0;
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>The home's files of <see cref="HomeEntries"/> into the staging directory, each with its SHA-256 (no temporary or partial file).</summary>
    private static void CopyHomeEntries(string home, string staging, SortedDictionary<string, string> files)
    {
        foreach (var entry in HomeEntries)
        {
            var source = Path.Combine(home, entry);
            var sources = Directory.Exists(source) ? Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories) : File.Exists(source) ? [source] : [];
            foreach (var file in sources.Where(f => !f.EndsWith(".partial", StringComparison.Ordinal) && !f.EndsWith(".tmp", StringComparison.Ordinal)))
            {
                var name = "home/" + Path.GetRelativePath(home, file);
                var target = Path.Combine(staging, name);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target);
                files[name] = Sha256(target);
            }
        }
    }

    /// <summary>The staging directory as a tar, encrypted with age to the recipients, renamed into place (0600) only when whole.</summary>
    private static void Encrypt(string staging, string tar, string recipients, string archivePath)
    {
        TarFile.CreateFromDirectory(staging, tar, includeBaseDirectory: false);
        var temp = archivePath + ".partial";
        try
        {
            OutsideTool.Run("age", ["--encrypt", "-R", recipients, "-o", temp, tar]);
        }
        finally
        {
            File.Delete(tar);
        }

        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, archivePath, overwrite: true);
    }

    /// <summary>
    /// <c>./jpki backup escrow</c>: a new age identity for the backups (its recipient goes to
    /// <c>backup/recipients.txt</c>; the identity itself is never written whole), and one share
    /// file per officer holding that officer's Shamir share of the identity, the SO PIN and the
    /// user PIN. Run again after a PIN change; keep the old shares as long as the backups made
    /// under them.
    /// </summary>
    public int Escrow(int shares, int threshold, string outDirectory)
    {
        if (threshold < 2 || shares < threshold || shares > 16)
        {
            throw new ArgumentException($"--threshold must be at least 2 and at most --shares (at most 16), not {threshold} of {shares}");
        }

        var home = context.Settings.Home;
        progress.Step("age identity of the backups (age-keygen)");
        var keygen = OutsideTool.Text(OutsideTool.Run("age-keygen", []).Stdout).Split('\n', StringSplitOptions.TrimEntries);
        var identity = keygen.Single(l => l.StartsWith("AGE-SECRET-KEY-", StringComparison.Ordinal));
        var recipient = keygen.Single(l => l.StartsWith("# public key: ", StringComparison.Ordinal))["# public key: ".Length..];
        var secrets = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [SecretEscrow.AgeIdentity] = identity,
            [SecretEscrow.SoPin] = Encoding.UTF8.GetString(PinSource.FromFile(context.Settings.Resolve(context.Settings.Hsm.SoPinFile)).Read()).Trim(),
            [SecretEscrow.UserPin] = Encoding.UTF8.GetString(context.UserPin.Read()).Trim(),
        };
        progress.Step($"splitting the identity and both PINs into {shares} shares, any {threshold} of which restore (ssss-split)");
        var files = SecretEscrow.Split(secrets, shares, threshold);
        Directory.CreateDirectory(outDirectory);
        var made = Instant.FromMicros(Instant.NowMicros(TimeProvider.System));
        for (var i = 0; i < files.Count; i++)
        {
            var path = Path.Combine(outDirectory, $"escrow-share-{i + 1}-of-{shares}.txt");
            var text = $"# JPKI escrow share {i + 1} of {shares}: give it to one officer, who keeps it offline (never on the CA's host)\n"
                + $"# threshold {threshold} shares restore the backups encrypted to {recipient} (made {made:u})\n"
                + "# lines: the officer's share of the backup identity, the HSM SO PIN and the HSM user PIN (ssss-combine -t " + threshold + ")\n"
                + files[i];
            using var stream = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
            stream.Write(Encoding.UTF8.GetBytes(text));
            context.Output.WriteLine($"share {i + 1} of {shares}: {path}");
        }

        var recipients = RecipientsFile(home);
        Directory.CreateDirectory(Path.GetDirectoryName(recipients)!);
        File.WriteAllText(recipients, $"# JPKI backups are encrypted to this age recipient (./jpki backup escrow, {made:u})\n{recipient}\n");
        progress.Step("audit record backup.escrowed");
        AuditedStep.Record(context, "backup.escrowed", recipient, new JsonObject { ["shares"] = shares, ["threshold"] = threshold, ["secrets"] = new JsonArray(secrets.Keys.Select(k => (JsonNode)k).ToArray()) });
        context.Output.WriteLine($"backups are now encrypted to {recipient} ({recipients}); {threshold} of the {shares} officers' shares restore them");
        context.Output.WriteLine("hand each share file to its officer and delete it here");
        return 0;
    }

    /// <summary>A consistent copy of the store: SQLite's online backup API (readers and writers go on meanwhile), or pg_dump's snapshot.</summary>
    private (string Kind, string Entry) SnapshotStore(string staging)
    {
        var connection = context.Settings.ConnectionString;
        Directory.CreateDirectory(Path.Combine(staging, "store"));
        if (Database.IsSqlite(connection))
        {
            var target = Path.Combine(staging, "store", "jpki.db");
            using var source = new SqliteConnection(connection);
            source.Open();
            using (var copy = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = target, Pooling = false }.ToString()))
            {
                copy.Open();
                source.BackupDatabase(copy);
            }

            return ("sqlite", "store/jpki.db");
        }

        // PostgreSQL: pg_dump takes one repeatable-read snapshot; the password goes by environment.
        var builder = new NpgsqlConnectionStringBuilder(connection);
        var dump = Path.Combine(staging, "store", "jpki.pgdump");
        var start = new ProcessStartInfo("pg_dump") { UseShellExecute = false, RedirectStandardError = true };
        foreach (var a in (string[])["--format=custom", "--no-owner", "--file", dump])
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["PGHOST"] = builder.Host;
        start.Environment["PGPORT"] = builder.Port.ToString(CultureInfo.InvariantCulture);
        start.Environment["PGUSER"] = builder.Username;
        start.Environment["PGDATABASE"] = builder.Database;
        if (builder.Password is { } password)
        {
            start.Environment["PGPASSWORD"] = password;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("pg_dump did not start");
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0 ? ("postgres", "store/jpki.pgdump") : throw new InvalidOperationException($"pg_dump failed (exit {process.ExitCode}): {error.Trim()}");
    }

    /// <summary>The audit head and feed cursor of the snapshot itself (not of the live store, which has moved on).</summary>
    private (long Seq, string Hash, long Cursor) ReadSnapshotState(string snapshot, string kind)
    {
        if (kind != "sqlite")
        {
            // pg_dump's snapshot cannot be queried; the live values read right after are at least as new.
            using var db = context.Database.OpenConnection();
            return ReadState(db);
        }

        using var copy = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = snapshot, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        copy.Open();
        return ReadState(copy);
    }

    internal static (long Seq, string Hash, long Cursor) ReadState(System.Data.Common.DbConnection db)
    {
        using var command = db.CreateCommand();
        command.CommandText = "SELECT h.seq, h.hash, f.cursor FROM chain_head h, jukinet_feed f WHERE h.id = 1 AND f.id = 1";
        using var reader = command.ExecuteReader();
        reader.Read();
        return (reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2));
    }

    internal static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    internal static SoftHsmTokenFiles TokenFiles() =>
        SoftHsmTokenFiles.FromConfig(Environment.GetEnvironmentVariable("SOFTHSM2_CONF") is { Length: > 0 } conf
            ? conf
            : throw new InvalidOperationException("SOFTHSM2_CONF is not set: the token is backed up and restored as SoftHSM token files (./jpki sets it)"));
}
