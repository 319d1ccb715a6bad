using System.Diagnostics;
using System.Formats.Tar;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Cli;
using Jpki.Core;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Configuration;
using Jpki.Core.Store;
using Jpki.Hsm;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Npgsql;
using Org.BouncyCastle.X509;

namespace Jpki.HsmTool;

/// <summary>What <c>./jpki restore</c> is given: the archive, the officers' escrow shares, what survived elsewhere.</summary>
internal sealed record RestoreInputs(string Archive, IReadOnlyList<string> Shares, IReadOnlyList<string> Witness, bool NoWitness, IReadOnlyList<string> Crls, bool ReportOnly);

/// <summary>
/// <c>./jpki restore</c>: a site backup into an empty JPKI_HOME on a fresh machine. The escrow
/// shares give back the archive's age identity and the token PINs; the archive gives the store,
/// the token, the configuration and the published files. Then the restored install is moved past
/// everything the lost machine may have handed out after the backup: the audit chain resumes
/// above the highest record a witness holds (a two-officer <c>audit.restored</c> record naming
/// the lost range) and every CRL series jumps above the highest CRL number seen. The report says
/// what the survivors tell and what nobody can know (decision 0451).
/// </summary>
internal sealed class SiteRestore(RestoreInputs inputs, StepProgress progress, TextWriter output, TextReader input)
{
    /// <summary>CRL numbers skipped past the highest one seen: the lost machine's schedule may have published CRLs nobody kept.</summary>
    public const long CrlNumberMargin = 100_000;

    public int Run(ILoggerFactory loggers)
    {
        var home = JpkiSettings.HomeFromEnvironment();
        CheckInputs(home);
        progress.Step($"escrow: combining {inputs.Shares.Count} officers' shares (ssss-combine)");
        var secrets = SecretEscrow.Combine(inputs.Shares);
        var staging = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"jpki-restore-{Environment.ProcessId}")).FullName;
        File.SetUnixFileMode(staging, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            progress.Step($"decrypting {inputs.Archive} (age)");
            var manifest = Unpack(staging, secrets[SecretEscrow.AgeIdentity]);
            var witness = inputs.Witness.Count == 0 ? [] : AuditCommands.LoadWitness(inputs.Witness);
            var surviving = inputs.Crls.SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p, "*.crl", SearchOption.AllDirectories) : (IEnumerable<string>)[p]).Select(ReadCrl).ToList();
            var witnessed = witness.Count == 0 ? null : witness.MaxBy(d => d.Seq);
            var resumeAt = Math.Max(manifest.AuditHeadSeq, witnessed?.Seq ?? 0) + 1;
            var highestCrl = surviving.Count == 0 ? 0 : surviving.Max(c => c.Number);
            Report(manifest, staging, witnessed, surviving, resumeAt);
            if (inputs.ReportOnly)
            {
                return 0;
            }

            var tokens = ReadOfficerTokens();
            // Before anything is placed for SQLite: a refusal leaves the home as empty as it was.
            var approvers = manifest.Store == "sqlite" ? AuthenticateStaged(staging, tokens) : null;

            var (token, settings) = PlaceAll(staging, home, manifest, secrets);
            using var context = new ToolContext(settings, loggers, output);
            AuditLog.RecoverCheckpointFile(context.Database, settings.Resolve(settings.Audit.CheckpointFile));
            var checkpointBefore = AuditTail.NewestCheckpoint(context);
            if (approvers is null)
            {
                using var db = context.Database.OpenConnection();
                approvers = Authenticate(db, tokens, "the PostgreSQL store, the files and the token are in place but no audit.restored was written: empty the home, the token store and the database, then restore again");
            }

            progress.Step($"audit.restored at record {resumeAt}; CRL numbers above {Math.Max(highestCrl, 0)} + {CrlNumberMargin}");
            var moved = RecordRestored(context, manifest, new RestoredFrom(witnessed, surviving.Count, highestCrl, resumeAt), approvers);
            AuditTail.Close(context, checkpointBefore);
            output.WriteLine($"restored the install into {home} from {inputs.Archive}: token '{token.Label}' ({token.Files.Count} files), store at audit record {manifest.AuditHeadSeq}");
            PrintResumed(manifest, resumeAt, approvers, moved, highestCrl);
            return 0;
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>The store, configuration, published files, PINs and token placed in the home (PostgreSQL: restored into its database).</summary>
    private (BackupManifest Token, JpkiSettings Settings) PlaceAll(string staging, string home, SiteBackupManifest manifest, Dictionary<string, string> secrets)
    {
        progress.Step($"placing the store, configuration and published files in {home}");
        Place(staging, home, manifest);
        WriteSecret(Path.Combine(home, "secrets", "hsm-so.pin"), secrets[SecretEscrow.SoPin]);
        WriteSecret(Path.Combine(home, "secrets", "hsm-user.pin"), secrets[SecretEscrow.UserPin]);

        progress.Step($"token '{manifest.TokenLabel}' (SoftHSM files)");
        var token = SiteBackup.TokenFiles().Restore(Path.Combine(staging, "token", "token.tar"), replace: false);

        var settings = JpkiSettings.Load(home);
        if (manifest.Store == "postgres")
        {
            progress.Step("store: pg_restore into the configured (empty) PostgreSQL database");
            PgRestore(settings.ConnectionString, Path.Combine(staging, "store", "jpki.pgdump"));
        }

        return (token, settings);
    }

    /// <summary>The officers, checked against the staged SQLite store's accounts.</summary>
    private static List<string> AuthenticateStaged(string staging, List<string> tokens)
    {
        using var staged = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(staging, "store", "jpki.db"), Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        staged.Open();
        return Authenticate(staged, tokens, "nothing was restored");
    }

    /// <summary>Where the audit chain, the CRL numbers and the Juki-Net feed resume.</summary>
    private void PrintResumed(SiteBackupManifest manifest, long resumeAt, List<string> approvers, long moved, long highestCrl)
    {
        output.WriteLine(resumeAt - 1 > manifest.AuditHeadSeq
            ? $"audit chain: records {manifest.AuditHeadSeq + 1}..{resumeAt - 1} are lost; it resumes at record {resumeAt} (audit.restored, approved by {approvers[0]} and {approvers[1]})"
            : $"audit chain: it resumes at record {resumeAt} (audit.restored, approved by {approvers[0]} and {approvers[1]}); no witness holds a later record");
        output.WriteLine($"CRL numbers: {moved} series continue above {Math.Max(highestCrl, 0) + CrlNumberMargin - 1}");
        output.WriteLine($"next: start the services (./jpki up); the CA replays the Juki-Net feed from cursor {manifest.FeedCursor}");
    }

    /// <summary>Refusals before anything is read: an install in the home, or no witness without saying there was none.</summary>
    private void CheckInputs(string home)
    {
        if (!inputs.ReportOnly && (File.Exists(Path.Combine(home, "jpki.json")) || File.Exists(Path.Combine(home, "jpki.db"))))
        {
            throw new InvalidOperationException($"{home} holds an install (jpki.json or jpki.db): restore only into an empty JPKI_HOME");
        }

        if (!inputs.ReportOnly && inputs.Witness.Count == 0 && !inputs.NoWitness)
        {
            throw new ArgumentException("give the witness's checkpoints (--witness DIR): the restored chain must resume above every record a witness holds; --no-witness only when the install had none");
        }
    }

    /// <summary>What survived the loss, as the restore resumes from it.</summary>
    private sealed record RestoredFrom(AuditCheckpointDocument? Witnessed, int SurvivingCrls, long HighestCrl, long ResumeAt);

    /// <summary>
    /// In one transaction: every CRL series' number moved past the highest seen plus the margin,
    /// and the two-officer <c>audit.restored</c> record naming the lost range. Returns the series moved.
    /// </summary>
    private long RecordRestored(ToolContext context, SiteBackupManifest manifest, RestoredFrom from, List<string> officers)
    {
        long moved = 0;
        AuditedStep.InTransaction(context, (tx, audit) =>
        {
            var highest = Math.Max(from.HighestCrl, RestoredStoreCounters.HighestCrlNumber(tx));
            moved = RestoredStoreCounters.JumpCrlNumbers(tx, highest, CrlNumberMargin);
            audit.AppendRestored(tx, new AuditRecord($"restore:{officers[0]}+{officers[1]}", AuditLog.RestoredAction, Path.GetFileName(inputs.Archive), new JsonObject
            {
                ["lostFrom"] = manifest.AuditHeadSeq + 1,
                ["lostTo"] = from.ResumeAt - 1,
                ["officers"] = new JsonArray(officers[0], officers[1]),
                ["archiveSha256"] = SiteBackup.Sha256(inputs.Archive),
                ["backupTimeUs"] = manifest.CreatedUs,
                ["backupAuditSeq"] = manifest.AuditHeadSeq,
                ["witnessSeq"] = from.Witnessed?.Seq,
                ["witnessHash"] = from.Witnessed?.Hash,
                ["feedCursor"] = manifest.FeedCursor,
                ["crlNumbersAbove"] = highest + CrlNumberMargin,
                ["survivingCrls"] = from.SurvivingCrls,
            }), from.ResumeAt);
        });
        return moved;
    }

    private SiteBackupManifest Unpack(string staging, string identity)
    {
        var identityFile = Path.Combine(staging, "identity");
        File.WriteAllText(identityFile, identity + "\n");
        File.SetUnixFileMode(identityFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var tar = Path.Combine(staging, "site.tar");
        try
        {
            OutsideTool.Run("age", ["--decrypt", "-i", identityFile, "-o", tar, inputs.Archive]);
        }
        finally
        {
            File.Delete(identityFile);
        }

        var contents = Directory.CreateDirectory(Path.Combine(staging, "contents")).FullName;
        TarFile.ExtractToDirectory(tar, contents, overwriteFiles: false);
        File.Delete(tar);
        var manifest = JsonSerializer.Deserialize<SiteBackupManifest>(File.ReadAllBytes(Path.Combine(contents, SiteBackupManifest.Name)))
            ?? throw new InvalidDataException($"{inputs.Archive}: no {SiteBackupManifest.Name}");
        if (manifest.Format != SiteBackupManifest.CurrentFormat)
        {
            throw new InvalidDataException($"{inputs.Archive}: format '{manifest.Format}', not {SiteBackupManifest.CurrentFormat}");
        }

        progress.Step($"checking {manifest.Files.Count} files against the manifest's SHA-256");
        foreach (var (name, sha256) in manifest.Files)
        {
            var path = Path.GetFullPath(Path.Combine(contents, name));
            if (!path.StartsWith(contents + "/", StringComparison.Ordinal) || !File.Exists(path) || SiteBackup.Sha256(path) != sha256)
            {
                throw new InvalidDataException($"{inputs.Archive}: {name} is missing or does not match its SHA-256 in the manifest");
            }
        }

        foreach (var entry in Directory.EnumerateFileSystemEntries(contents))
        {
            Directory.Move(entry, Path.Combine(staging, Path.GetFileName(entry)));
        }

        return manifest;
    }

    private static void Place(string staging, string home, SiteBackupManifest manifest)
    {
        Directory.CreateDirectory(home);
        foreach (var name in manifest.Files.Keys.Where(n => n.StartsWith("home/", StringComparison.Ordinal)))
        {
            var relative = name["home/".Length..];

            // The checkpoint file is written again from the restored store's checkpoints (the
            // archive's copy may be newer than the store's snapshot); the archive's is kept beside it.
            var target = Path.Combine(home, relative == "audit/checkpoints" ? "audit/checkpoints.at-backup" : relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(Path.Combine(staging, name), target);
        }

        if (manifest.Store == "sqlite")
        {
            File.Copy(Path.Combine(staging, "store", "jpki.db"), Path.Combine(home, "jpki.db"));
        }
    }

    private static void WriteSecret(string path, string secret)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.SetUnixFileMode(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using var stream = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
        stream.Write(Encoding.UTF8.GetBytes(secret + "\n"));
    }

    /// <summary>Two officers' API tokens, one a line on standard input (never arguments).</summary>
    private List<string> ReadOfficerTokens()
    {
        output.WriteLine("two officers: type your API token, each on its own line (input is not echoed by a terminal in no-echo mode)");
        var tokens = new List<string>();
        while (tokens.Count < 2 && input.ReadLine() is { } line)
        {
            if (line.Trim() is { Length: > 0 } token)
            {
                tokens.Add(token);
            }
        }

        return tokens.Count == 2 ? tokens : throw new ArgumentException("restore needs two officers' API tokens on standard input, one a line");
    }

    /// <summary>Each token must be an enabled officer's of the restored store, and the two officers different.</summary>
    private static List<string> Authenticate(System.Data.Common.DbConnection db, List<string> tokens, string consequence)
    {
        var now = Instant.NowMicros(TimeProvider.System);
        var officers = tokens.Select(t => AccountStore.FindByToken(db, t, now)).ToList();
        if (officers.Any(o => o is not { Role: AccountRole.Officer, Disabled: false }))
        {
            throw new InvalidOperationException($"restore refused: a token given is not an enabled officer's of the restored store; {consequence}");
        }

        return officers[0]!.Id != officers[1]!.Id
            ? [officers[0]!.Id, officers[1]!.Id]
            : throw new InvalidOperationException($"restore refused: the same officer twice; audit.restored needs two different officers; {consequence}");
    }

    private static void PgRestore(string connection, string dump)
    {
        var builder = new NpgsqlConnectionStringBuilder(connection);
        var start = new ProcessStartInfo("pg_restore") { UseShellExecute = false, RedirectStandardError = true };
        foreach (var a in (string[])["--no-owner", "--exit-on-error", "--dbname", builder.Database!, dump])
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["PGHOST"] = builder.Host;
        start.Environment["PGPORT"] = builder.Port.ToString(CultureInfo.InvariantCulture);
        start.Environment["PGUSER"] = builder.Username;
        if (builder.Password is { } password)
        {
            start.Environment["PGPASSWORD"] = password;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("pg_restore did not start");
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"pg_restore failed (exit {process.ExitCode}): {error.Trim()}");
        }
    }

    private sealed record SurvivingCrl(string Path, string Issuer, long Number, DateTimeOffset ThisUpdate, IReadOnlyList<string> Serials);

    private static SurvivingCrl ReadCrl(string path)
    {
        var crl = new X509CrlParser().ReadCrl(File.ReadAllBytes(path)) ?? throw new InvalidDataException($"{path} is not a CRL");
        var number = crl.GetExtensionValue(Org.BouncyCastle.Asn1.X509.X509Extensions.CrlNumber) is { } octets
            ? Org.BouncyCastle.Asn1.DerInteger.GetInstance(Org.BouncyCastle.Asn1.Asn1Object.FromByteArray(octets.GetOctets())).Value.LongValue
            : 0;
        // The store's spelling (DER content octets in hex): BigInteger.ToString(16) drops the leading
        // zero of a first octet below 0x10 and then misses the certificate in the backup.
        var serials = crl.GetRevokedCertificates()?.Select(e => Jpki.Core.Profiles.SerialNumbers.ToHex(e.SerialNumber)).ToList() ?? [];
        return new SurvivingCrl(path, crl.IssuerDN.ToString(), number, new DateTimeOffset(crl.ThisUpdate, TimeSpan.Zero), serials);
    }

    /// <summary>What the survivors tell, and what nobody can know: printed by every restore, alone with --report.</summary>
    private void Report(SiteBackupManifest manifest, string staging, AuditCheckpointDocument? witnessed, List<SurvivingCrl> surviving, long resumeAt)
    {
        var backupTime = Instant.FromMicros(manifest.CreatedUs);
        output.WriteLine("restore report:");
        output.WriteLine($"  backup: made {Jst.ToJst(backupTime):yyyy-MM-dd HH:mm:ss} JST, store ({manifest.Store}) at audit record {manifest.AuditHeadSeq}, Juki-Net cursor {manifest.FeedCursor}, token '{manifest.TokenLabel}'");
        var known = new Dictionary<string, string>(StringComparer.Ordinal);
        if (manifest.Store == "sqlite")
        {
            using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(staging, "store", "jpki.db"), Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
            db.Open();
            using var command = db.CreateCommand();
            command.CommandText = "SELECT serial, status FROM certificates";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                known[reader.GetString(0)] = reader.GetString(1);
            }

            output.WriteLine($"  the backup knows {known.Count} certificates ({known.Values.Count(s => s == "revoked")} revoked)");
        }

        output.WriteLine(witnessed is null
            ? "  witness: none given; the chain resumes right after the backup's last record"
            : $"  witness: its newest checkpoint is record {witnessed.Seq} ({Jst.ToJst(Instant.FromMicros(witnessed.TimeUs)):yyyy-MM-dd HH:mm:ss} JST, {witnessed.Origin}): "
              + (witnessed.Seq > manifest.AuditHeadSeq ? $"records {manifest.AuditHeadSeq + 1}..{witnessed.Seq} (at least) were written after the backup and are lost (a checkpoint proves they existed, not what they said)" : "no record after the backup was witnessed"));
        output.WriteLine($"  the audit chain resumes at record {resumeAt}");
        foreach (var crl in surviving.OrderBy(c => c.Number))
        {
            var unknown = crl.Serials.Where(s => !known.ContainsKey(s)).ToList();
            var later = crl.Serials.Where(s => known.TryGetValue(s, out var status) && status == "good").ToList();
            output.WriteLine($"  surviving CRL {crl.Path}: number {crl.Number}, {crl.Issuer}, this update {Jst.ToJst(crl.ThisUpdate):yyyy-MM-dd HH:mm:ss} JST, {crl.Serials.Count} entries");
            foreach (var serial in later)
            {
                output.WriteLine($"    revoked after the backup: {serial} (known to the backup as good: the Juki-Net replay revokes it again if the feed revoked it; else revoke it again by hand)");
            }

            foreach (var serial in unknown)
            {
                output.WriteLine($"    revoked after the backup, certificate unknown: {serial} (issued after the backup; the restored CA cannot list it)");
            }
        }

        output.WriteLine(surviving.Count == 0
            ? "  CRLs: none given (--crl); every series jumps " + CrlNumberMargin + " numbers past the backup's"
            : $"  CRLs: the highest number seen is {surviving.Max(c => c.Number)}; every series continues above it + {CrlNumberMargin}");
        output.WriteLine("  cannot be known: certificates issued after the backup. The restored CA has no record of them: OCSP answers 'unknown' for them (fail-safe) and CRLs cannot list them; their holders must re-enrol (docs/runbooks/disaster-recovery.md, 'Residents to reach')");
        output.WriteLine("  cannot be known: window and officer revocations after the backup, unless a surviving CRL lists them (above); Juki-Net revocations come back with the feed's replay from cursor " + manifest.FeedCursor);
    }
}
