using Jpki.Core.Audit;
using Jpki.Core.Configuration;
using Jpki.Core.Issuers;
using Jpki.Hosting;
using Jpki.Hsm;
using Jpki.HsmTool;
using Microsoft.Extensions.Logging;

// jpki-tool: the key-ceremony and audit CLI behind `./jpki hsm ...` and `./jpki audit ...`.
// PINs come only from files or environment variables named in $JPKI_HOME/jpki.json.
const string Usage = """
    usage:
      hsm init [--production [--officers ID,ID --auditor ID]]
                                   first-run key ceremony (idempotent); --production: no officer or auditor
                                   credential on disk, each shown once on the terminal to its holder
      hsm break-glass --officer ID with fewer than two enabled officers: make or restore one officer,
                                   proven by the HSM security-officer PIN read from standard input
      hsm status                   issuers, key generations, certificates and expiry; token keys
      hsm backup --out FILE        back the token up (SoftHSM: its files + SHA-256 manifest)
      hsm restore --in FILE [--replace]
      audit verify [--witness FILE|DIR ...] [--key-sha256 HASH]
                                   recompute the audit chain and check signed checkpoints; with --witness, that the chain
                                   extends every witness checkpoint; with --key-sha256 (SHA-256 of the checkpoint key's
                                   SubjectPublicKeyInfo, from the ceremony record), that every checkpoint is signed by that key
      audit checkpoint --out FILE  sign the chain head if needed and write the newest checkpoint as a witness file
      audit export --from YYYY-MM-DD --to YYYY-MM-DD --out DIR
                                   records of those JST days, their checkpoints, the key certificate and verify.sh
      audit purge --before YYYY-MM-DD [--dry-run] [--keep-retained]
                                   blank records older than that JST day, outside retention (7 years; issuance: 10 years after expiry)
      tls init                     first run: self-signed TLS server certificate ($JPKI_HOME/tls) and the
                                   OCSP/CRL mutual-TLS listeners on https://127.0.0.1:8443 / :8444 (idempotent)
    """;

// Owner-only files from here on (umask 077): the store, PIN files, certificates and backups it writes.
UnixFiles.RestrictNewFilesToOwner();
using var loggers = LoggerFactory.Create(b => b
    .AddSimpleConsole(o => o.SingleLine = true)
    .SetMinimumLevel(Environment.GetEnvironmentVariable("JPKI_LOG_LEVEL") is { } level && Enum.TryParse<LogLevel>(level, out var l) ? l : LogLevel.Warning));
if (args.Length < 2)
{
    Console.Error.WriteLine(Usage);
    return 2;
}

try
{
    var settings = JpkiSettings.Load(JpkiSettings.HomeFromEnvironment());
    if ((args[0], args[1]) is ("tls", "init"))
    {
        // Files and settings only: no store, no token.
        return ListenerTls.Init(settings, Console.Out);
    }

    using var context = new ToolContext(settings, loggers, Console.Out);
    if ((args[0], args[1]) is not ("audit", "verify") and not ("hsm", "status"))
    {
        // Verbs that write audit records first copy the checkpoints a killed process left in the
        // store only (as the CA does at start-up). `audit verify` reads and reports; it never repairs.
        AuditLog.RecoverCheckpointFile(context.Database, settings.Resolve(settings.Audit.CheckpointFile));
    }

    var writes = (args[0], args[1]) is not ("audit", "verify") and not ("hsm", "status");
    var checkpointBefore = writes ? AuditTail.NewestCheckpoint(context) : 0;
    var exit = (args[0], args[1]) switch
    {
        ("hsm", "init") => Init(context) is var made && made == 0 && args.Contains("--production")
            ? new AccountCeremony(context, Console.In).InitProduction(
                (Option(args, "--officers") ?? "officer1,officer2").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
                Option(args, "--auditor") ?? "auditor")
            : made,
        ("hsm", "break-glass") => new AccountCeremony(context, Console.In).BreakGlass(Option(args, "--officer") ?? throw new ArgumentException("hsm break-glass needs --officer ID")),
        ("hsm", "status") => StatusReport.Print(context),
        ("hsm", "backup") => Backup(context, Option(args, "--out") ?? throw new ArgumentException("hsm backup needs --out FILE")),
        ("hsm", "restore") => Restore(context, Option(args, "--in") ?? throw new ArgumentException("hsm restore needs --in FILE"), args.Contains("--replace")),
        ("audit", "verify") => AuditCommands.Verify(context, Options(args, "--witness"), Option(args, "--key-sha256")),
        ("audit", "checkpoint") => AuditCommands.Checkpoint(context, Option(args, "--out") ?? throw new ArgumentException("audit checkpoint needs --out FILE")),
        ("audit", "export") => AuditCommands.Export(
            context,
            Option(args, "--from") ?? throw new ArgumentException("audit export needs --from YYYY-MM-DD"),
            Option(args, "--to") ?? throw new ArgumentException("audit export needs --to YYYY-MM-DD"),
            Option(args, "--out") ?? throw new ArgumentException("audit export needs --out DIR")),
        ("audit", "purge") => AuditCommands.Purge(
            context,
            Option(args, "--before") ?? throw new ArgumentException("audit purge needs --before YYYY-MM-DD"),
            args.Contains("--dry-run"),
            args.Contains("--keep-retained")),
        _ => throw new ArgumentException($"unknown command '{args[0]} {args[1]}'\n{Usage}"),
    };
    if (writes)
    {
        // A verb that appended leaves no record uncovered, and its checkpoints reach the witness.
        AuditTail.Close(context, checkpointBefore);
    }

    return exit;
}
catch (Exception e) when (e is HsmException or ArgumentException or InvalidOperationException or InvalidDataException or IOException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}

static int Init(ToolContext context)
{
    var changes = new KeyCeremony(context).Run();
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

static int Backup(ToolContext context, string archive)
{
    var manifest = TokenFiles().Backup(context.Settings.TokenLabel, Path.GetFullPath(archive));
    context.Output.WriteLine($"backed up token '{manifest.Label}' ({manifest.Files.Count} files) to {Path.GetFullPath(archive)}");
    AuditedStep.Record(context, "ceremony.token.backup", manifest.Label, new() { ["archive"] = Path.GetFullPath(archive), ["files"] = manifest.Files.Count });
    return 0;
}

static int Restore(ToolContext context, string archive, bool replace)
{
    var manifest = TokenFiles().Restore(Path.GetFullPath(archive), replace);
    context.Output.WriteLine($"restored token '{manifest.Label}' ({manifest.Files.Count} files) from {Path.GetFullPath(archive)}");
    AuditedStep.Record(context, "ceremony.token.restore", manifest.Label, new() { ["archive"] = Path.GetFullPath(archive), ["files"] = manifest.Files.Count });
    return 0;
}

static SoftHsmTokenFiles TokenFiles() =>
    SoftHsmTokenFiles.FromConfig(Environment.GetEnvironmentVariable("SOFTHSM2_CONF") is { Length: > 0 } conf
        ? conf
        : throw new InvalidOperationException("SOFTHSM2_CONF is not set: backup and restore work on SoftHSM token files (./jpki sets it)"));

// Every value after NAME up to the next option: `--witness a.json b.json dir/`.
static List<string> Options(string[] args, string name)
{
    var i = Array.IndexOf(args, name);
    return i < 0 ? [] : args.Skip(i + 1).TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal)).ToList();
}

static string? Option(string[] args, string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
