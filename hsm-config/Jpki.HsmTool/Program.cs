using System.CommandLine;
using Jpki.Cli;
using Jpki.Core.Audit;
using Jpki.Core.Configuration;
using Jpki.Core.Store;
using Jpki.Hosting;
using Jpki.Hsm;
using Jpki.HsmTool;
using Microsoft.Extensions.Logging;

// jpki-tool: the key-ceremony and audit CLI behind `./jpki hsm ...`, `./jpki audit ...` and
// `./jpki tls init`. PINs come only from files or environment variables named in
// $JPKI_HOME/jpki.json (break-glass: the SO PIN from standard input), never from the command line.
// Owner-only files from here on (umask 077): the store, PIN files, certificates and backups it writes.
UnixFiles.RestrictNewFilesToOwner();
return CliApp.Run(ToolCommands.Build(), args);

internal static partial class ToolCommands
{
    private const int Failed = 1;

    /// <summary><c>hsm retire</c>: one officer's request is recorded, a second officer's approval is awaited.</summary>
    private const int AwaitingApproval = 3;

    public static Command Build()
    {
        var root = CliApp.Root("jpki", "JPKI key ceremonies, token backups, the audit trail and the listeners' TLS certificate (PINs never on the command line).");
        root.Subcommands.Add(Hsm());
        root.Subcommands.Add(Audit());
        root.Subcommands.Add(Tls());
        root.Subcommands.Add(StoreSchema.Command(Guarded));
        root.Subcommands.Add(SiteBackupCommand());
        root.Subcommands.Add(SiteRestoreCommand());
        return root;
    }

    private static Command Audit()
    {
        var audit = new Command("audit", "The tamper-evident audit trail: verify, account for signatures, checkpoint, export, purge.");

        var verify = new Command("verify", "Recompute the audit chain and check every signed checkpoint; with --witness, that the chain extends each witness checkpoint; with --key-sha256, that every checkpoint is signed by that key.");
        var (witness, keySha256) = WitnessOptions(verify);
        verify.SetAction(p => WithContext(writes: false, context => AuditCommands.Verify(context, p.GetValue(witness) ?? [], p.GetValue(keySha256))));
        audit.Subcommands.Add(verify
            .WithExamples("./jpki audit verify", "./jpki audit verify --witness /srv/witness/ --key-sha256 3f1c...e9")
            .WithExitCodes((0, "the chain and every checkpoint verify"), (Failed, "tampered: the first bad record or the violated checkpoint is named"), (CliApp.UsageError, "usage error, or unusable input (a malformed witness file or key hash)")));

        var signatures = new Command("signatures", "audit verify, then every 'signature.intended' record must have its certificate in the store or a 'signature.discarded' record.");
        var (signatureWitness, signatureKey) = WitnessOptions(signatures);
        var grace = new Option<string>("--grace-seconds") { Description = "an open intent younger than this is in progress (0-86400, default 300)", HelpName = "N" };
        signatures.Options.Add(grace);
        signatures.SetAction(p => WithContext(writes: false, context => SignatureCommands.Signatures(context, p.GetValue(signatureWitness) ?? [], p.GetValue(signatureKey), p.GetValue(grace))));
        audit.Subcommands.Add(signatures
            .WithExamples("./jpki audit signatures --grace-seconds 600")
            .WithExitCodes((0, "every intended signature is accounted for"), (Failed, "the chain failed, or intents are unaccounted for (each named)"), (CliApp.UsageError, "usage error, or unusable input")));

        var checkpointOut = new Option<string>("--out") { Description = "the witness file to write", HelpName = "FILE", Required = true };
        var checkpoint = new Command("checkpoint", "Sign the chain head if needed and write the newest checkpoint as a witness file.") { checkpointOut };
        checkpoint.SetAction(p => WithContext(writes: true, context => AuditCommands.Checkpoint(context, p.GetValue(checkpointOut)!)));
        audit.Subcommands.Add(checkpoint.WithExamples("./jpki audit checkpoint --out /srv/witness/checkpoint.json"));

        var from = new Option<string>("--from") { Description = "first JST day", HelpName = "YYYY-MM-DD", Required = true };
        var to = new Option<string>("--to") { Description = "last JST day (through its end)", HelpName = "YYYY-MM-DD", Required = true };
        var exportOut = new Option<string>("--out") { Description = "the bundle's directory", HelpName = "DIR", Required = true };
        var export = new Command("export", "The records of those JST days, their checkpoints, the key certificate and verify.sh, for an outside auditor.") { from, to, exportOut };
        export.SetAction(p => WithContext(writes: true, context => AuditCommands.Export(context, p.GetValue(from)!, p.GetValue(to)!, p.GetValue(exportOut)!)));
        audit.Subcommands.Add(export.WithExamples("./jpki audit export --from 2026-11-01 --to 2026-11-30 --out /tmp/audit-2026-11"));

        var before = new Option<string>("--before") { Description = "blank records older than this JST day", HelpName = "YYYY-MM-DD", Required = true };
        var dryRun = new Option<bool>("--dry-run") { Description = "say what would be purged, change nothing" };
        var keepRetained = new Option<bool>("--keep-retained") { Description = "purge around issuance records still inside their retention" };
        var purge = new Command("purge", "Blank (tombstone) records older than that JST day, outside retention (7 years; issuance: 10 years after expiry).") { before, dryRun, keepRetained };
        purge.SetAction(p => WithContext(writes: true, context => AuditCommands.Purge(context, p.GetValue(before)!, p.GetValue(dryRun), p.GetValue(keepRetained))));
        audit.Subcommands.Add(purge
            .WithExamples("./jpki audit purge --before 2018-04-01 --dry-run")
            .WithExitCodes((0, "purged (or, with --dry-run, what would be)"), (Failed, "failed (the reason on standard error)"), (3, "refused by retention: nothing changed (audited as audit.purge-refused)")));
        return audit;
    }

    private static Command SiteBackupCommand()
    {
        var outFile = new Option<string>("--out") { Description = "the encrypted archive to write (age, mode 0600)", HelpName = "FILE" };
        var backup = new Command("backup", "Back the whole install up while the services run: store snapshot, token files, configuration, certificates, CRLs, audit checkpoints; encrypted with age to backup/recipients.txt; never a PIN. Audited.") { outFile };
        backup.SetAction(p => p.GetValue(outFile) is { } file
            ? WithContext(writes: true, context => new SiteBackup(context, new StepProgress()).Run(Path.GetFullPath(file)))
            : Usage("backup needs --out FILE (or the escrow subcommand)"));
        backup.WithExamples("./jpki backup --out /srv/backup/jpki-2026-12-07.age")
            .WithExitCodes((0, "archive written and audited"), (Failed, "failed (the reason on standard error; no archive at FILE), e.g. no recipient yet: run backup escrow first"));

        var shares = new Option<int>("--shares") { Description = "how many officers get a share", HelpName = "N", DefaultValueFactory = _ => 3 };
        var threshold = new Option<int>("--threshold") { Description = "how many shares restore", HelpName = "K", DefaultValueFactory = _ => 2 };
        var escrowOut = new Option<string>("--out") { Description = "the directory for the share files (one per officer)", HelpName = "DIR", Required = true };
        var escrow = new Command("escrow", "Split knowledge: a new age identity for the backups, and the identity, the SO PIN and the user PIN split into Shamir shares (ssss), one file per officer. Audited.") { shares, threshold, escrowOut };
        escrow.SetAction(p => WithContext(writes: true, context => new SiteBackup(context, new StepProgress()).Escrow(p.GetValue(shares), p.GetValue(threshold), Path.GetFullPath(p.GetValue(escrowOut)!))));
        backup.Subcommands.Add(escrow
            .WithExamples("./jpki backup escrow --shares 3 --threshold 2 --out /media/escrow")
            .WithExitCodes((0, "share files written, recipient set, audited"), (Failed, "failed (ssss or age missing, PIN files unreadable)")));
        return backup;
    }

    private static Command SiteRestoreCommand()
    {
        var from = new Option<string>("--from") { Description = "an archive made by ./jpki backup", HelpName = "FILE", Required = true };
        var share = new Option<string[]>("--share") { Description = "an officer's escrow share file (as many as the threshold)", HelpName = "FILE", Required = true, AllowMultipleArgumentsPerToken = true };
        var witness = new Option<string[]>("--witness") { Description = "checkpoints the witness kept (files or directories of *.json): the chain resumes above the newest", HelpName = "FILE|DIR", AllowMultipleArgumentsPerToken = true };
        var noWitness = new Option<bool>("--no-witness") { Description = "the install had no witness: resume right after the backup's last record" };
        var crls = new Option<string[]>("--crl") { Description = "CRLs published by the lost machine that survived (files or directories of *.crl)", HelpName = "FILE|DIR", AllowMultipleArgumentsPerToken = true };
        var report = new Option<bool>("--report") { Description = "only say what the archive and the survivors tell and what cannot be known; change nothing" };
        var restore = new Command("restore", "Restore a site backup into an empty JPKI_HOME: escrow shares combined, archive decrypted, store, token and files in place; the audit chain resumes above the witness with a two-officer audit.restored record; CRL numbers jump. Two officers' API tokens on standard input.") { from, share, witness, noWitness, crls, report };
        restore.SetAction(p => Guarded(() =>
        {
            using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
            var inputs = new RestoreInputs(Path.GetFullPath(p.GetValue(from)!), p.GetValue(share) ?? [], p.GetValue(witness) ?? [], p.GetValue(noWitness), p.GetValue(crls) ?? [], p.GetValue(report));
            var progress = new StepProgress();
            var exit = new SiteRestore(inputs, progress, Console.Out, Console.In).Run(loggers);
            progress.Done(inputs.ReportOnly ? "restore report" : "restore");
            return exit;
        }));
        return restore
            .WithExamples(
                "./jpki restore --report --from /srv/backup/jpki-2026-12-07.age --share /media/a/escrow-share-1-of-3.txt --share /media/b/escrow-share-3-of-3.txt --witness /srv/witness/ --crl /srv/mirror/crl/",
                "./jpki restore --from /srv/backup/jpki-2026-12-07.age --share A --share B --witness /srv/witness/ --crl /srv/mirror/crl/   (then two officers type their API tokens)")
            .WithExitCodes((0, "restored (or reported) and audited"), (Failed, "refused or failed: a home that is not empty, no --witness without --no-witness, too few shares, a bad archive, tokens that are not two different officers'"), (CliApp.UsageError, "usage error"));
    }

    private static int Usage(string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return CliApp.UsageError;
    }

    private static Command Tls()
    {
        var tls = new Command("tls", "The TLS server certificate of the OCSP and CRL mutual-TLS listeners.");
        var init = new Command("init", "First run: self-signed TLS server certificate ($JPKI_HOME/tls) and the OCSP/CRL mutual-TLS listeners on https://127.0.0.1:8443 / :8444 in jpki.json (idempotent).");
        init.SetAction(_ => Guarded(() => ListenerTls.Init(JpkiSettings.Load(JpkiSettings.HomeFromEnvironment()), Console.Out)));
        tls.Subcommands.Add(init.WithExamples("./jpki tls init"));
        return tls;
    }

    /// <summary>--witness FILE|DIR ... (several values after one flag, or the flag repeated) and --key-sha256 HASH.</summary>
    private static (Option<string[]> Witness, Option<string> KeySha256) WitnessOptions(Command command)
    {
        var witness = new Option<string[]>("--witness")
        {
            Description = "checkpoint documents the witness kept (a directory means its *.json); needs --key-sha256",
            HelpName = "FILE|DIR",
            AllowMultipleArgumentsPerToken = true,
        };
        var keySha256 = new Option<string>("--key-sha256") { Description = "SHA-256 of the checkpoint key's SubjectPublicKeyInfo, from the key ceremony record", HelpName = "HASH" };
        command.Options.Add(witness);
        command.Options.Add(keySha256);
        return (witness, keySha256);
    }

    /// <summary>
    /// Opens the settings and the tool context, runs <paramref name="verb"/>; a verb that writes
    /// audit records first recovers the checkpoints a killed process left in the store only (as
    /// the CA does at start-up) and at the end leaves no record uncovered. `audit verify` reads
    /// and reports; it never repairs.
    /// </summary>
    private static int WithContext(bool writes, Func<ToolContext, int> verb) => WithContext(writes, creates: false, verb);

    /// <summary><see cref="WithContext(bool, Func{ToolContext, int})"/>; <paramref name="creates"/>: the verb may make the install (jpki.json, the store).</summary>
    private static int WithContext(bool writes, bool creates, Func<ToolContext, int> verb) => Guarded(() =>
    {
        using var loggers = LoggerFactory.Create(b => b
            .AddSimpleConsole(o => o.SingleLine = true)
            .SetMinimumLevel(Environment.GetEnvironmentVariable("JPKI_LOG_LEVEL") is { } level && Enum.TryParse<LogLevel>(level, out var l) ? l : LogLevel.Warning));
        var settings = JpkiSettings.Load(JpkiSettings.HomeFromEnvironment(), writeDefaults: creates);
        if (!creates)
        {
            // The store first: a wrong home or store is named as such, not as whatever the HSM
            // or a verb would meet next in it.
            StoreCheck.RequireInstall(settings);
        }

        using var context = new ToolContext(settings, loggers, Console.Out, createsStore: creates);
        if (writes)
        {
            AuditLog.RecoverCheckpointFile(context.Database, settings.Resolve(settings.Audit.CheckpointFile));
        }

        var checkpointBefore = writes ? AuditTail.NewestCheckpoint(context) : 0;
        var exit = verb(context);
        if (writes)
        {
            // A verb that appended leaves no record uncovered, and its checkpoints reach the witness.
            AuditTail.Close(context, checkpointBefore);
        }

        return exit;
    });

    private static int Guarded(Func<int> verb)
    {
        try
        {
            return verb();
        }
        catch (StoreUnusableException e)
        {
            // One line naming the store and where the setting came from; its own exit code.
            Console.Error.WriteLine($"error: {e.Message}");
            return e.ExitCode;
        }
        catch (SchemaUpgradeRefusedException e)
        {
            // A contracting migration blocked by older instances, or code older than the store's schema (decision 0530).
            Console.Error.WriteLine($"error: {e.Message}");
            return SchemaUpgradeRefusedException.RefusedExitCode;
        }
        catch (Exception e) when (e is HsmException or ArgumentException or InvalidOperationException or InvalidDataException or IOException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return Failed;
        }
    }

    private static int Init(ToolContext context)
    {
        var progress = new StepProgress();
        var changes = new KeyCeremony(context, progress).Run();
        progress.Done(changes.Count == 0 ? "key ceremony: nothing to do" : $"key ceremony: {changes.Count} changes");
        if (changes.Count == 0)
        {
            context.Output.WriteLine($"nothing to do: token '{context.Settings.TokenLabel}' and every issuer of {string.Join(", ", context.Settings.Prefectures.Select(p => p.Name))} are already set up");
        }
        else
        {
            context.Output.WriteLine("key ceremony:");
            foreach (var change in changes)
            {
                context.Output.WriteLine($"  {change}");
            }
        }

        context.Output.WriteLine($"certificates (PEM): {Path.Combine(context.Settings.Home, "certs")}");
        return 0;
    }

    private static int Rollover(ToolContext context, string issuerId, string at, bool resume)
    {
        var progress = new StepProgress();
        IReadOnlyList<string> changes;
        try
        {
            changes = new KeyRollover(context, progress).Run(issuerId, KeyRollover.ParseTime(at), resume);
        }
        catch (RolloverRefusedException e)
        {
            Console.Error.WriteLine($"refused ({e.Code}): {e.Message}");
            return CliApp.UsageError;
        }

        if (changes.Count == 0)
        {
            context.Output.WriteLine($"nothing to do: the rollover of {issuerId} switching at {KeyRollover.Show(KeyRollover.ParseTime(at))} is complete");
        }
        else
        {
            context.Output.WriteLine("key rollover:");
            foreach (var change in changes)
            {
                context.Output.WriteLine($"  {change}");
            }
        }

        context.Output.WriteLine($"certificates and fingerprints (PEM, .sha256): {Path.Combine(context.Settings.Home, "certs")}");
        return 0;
    }

    private static int Retire(ToolContext context, string keyId)
    {
        try
        {
            return new KeyRetirement(context, Console.In).Run(keyId) == RetirementOutcome.Retired ? 0 : AwaitingApproval;
        }
        catch (ToolRefusedException e)
        {
            Console.Error.WriteLine($"refused ({e.Code}): {e.Message}");
            return CliApp.UsageError;
        }
    }

    private static int CompromiseCheckpointKey(ToolContext context, string? statement)
    {
        try
        {
            return new CheckpointCompromise(context, Console.In).Run(statement) == CheckpointCompromiseOutcome.HandedOver ? 0 : AwaitingApproval;
        }
        catch (ToolRefusedException e)
        {
            Console.Error.WriteLine($"refused ({e.Code}): {e.Message}");
            return CliApp.UsageError;
        }
    }

    private static int CompromiseResponder(ToolContext context, string keyId, string? statement)
    {
        try
        {
            return new ResponderCompromise(context, Console.In).Run(keyId, statement) == ResponderCompromiseOutcome.Replaced ? 0 : AwaitingApproval;
        }
        catch (ToolRefusedException e)
        {
            Console.Error.WriteLine($"refused ({e.Code}): {e.Message}");
            return CliApp.UsageError;
        }
    }

    private static int Backup(ToolContext context, string archive)
    {
        var progress = new StepProgress();
        var manifest = TokenFiles().Backup(context.Settings.TokenLabel, Path.GetFullPath(archive), progress.Step);
        context.Output.WriteLine($"backed up token '{manifest.Label}' ({manifest.Files.Count} files) to {Path.GetFullPath(archive)}");
        progress.Step("audit record ceremony.token.backup");
        AuditedStep.Record(context, "ceremony.token.backup", manifest.Label, new() { ["archive"] = Path.GetFullPath(archive), ["files"] = manifest.Files.Count });
        progress.Done($"backup of token '{manifest.Label}'");
        return 0;
    }

    private static int Restore(ToolContext context, string archive, bool replace)
    {
        var progress = new StepProgress();
        var manifest = TokenFiles().Restore(Path.GetFullPath(archive), replace, progress.Step);
        context.Output.WriteLine($"restored token '{manifest.Label}' ({manifest.Files.Count} files) from {Path.GetFullPath(archive)}");
        progress.Step("audit record ceremony.token.restore");
        AuditedStep.Record(context, "ceremony.token.restore", manifest.Label, new() { ["archive"] = Path.GetFullPath(archive), ["files"] = manifest.Files.Count });
        progress.Done($"restore of token '{manifest.Label}'");
        return 0;
    }

    private static SoftHsmTokenFiles TokenFiles() =>
        SoftHsmTokenFiles.FromConfig(Environment.GetEnvironmentVariable("SOFTHSM2_CONF") is { Length: > 0 } conf
            ? conf
            : throw new InvalidOperationException("SOFTHSM2_CONF is not set: backup and restore work on SoftHSM token files (./jpki sets it)"));
}
