using System.CommandLine;
using Jpki.Cli;
using Jpki.Core.Configuration;
using Jpki.HsmTool;

/// <summary>The <c>hsm</c> verbs: key ceremonies, rollover, retirement, compromise, token backup.</summary>
internal static partial class ToolCommands
{
    private static Command Hsm()
    {
        var hsm = new Command("hsm", "Key ceremonies and the HSM token.");

        hsm.Subcommands.Add(InitCommand());
        hsm.Subcommands.Add(BreakGlassCommand());
        hsm.Subcommands.Add(StatusCommand());
        hsm.Subcommands.Add(RolloverCommand());
        hsm.Subcommands.Add(RetireCommand());
        hsm.Subcommands.Add(ResponderCompromiseCommand());
        hsm.Subcommands.Add(CheckpointCompromiseCommand());
        hsm.Subcommands.Add(BackupCommand());
        hsm.Subcommands.Add(RestoreCommand());
        return hsm;
    }

    private static Command InitCommand()
    {
        var production = new Option<bool>("--production") { Description = "record the install as production: the first officers and the auditor are made here, each one's credentials shown once on the terminal, none written to disk" };
        var officers = new Option<string>("--officers") { Description = "with --production: the first officers, comma-separated (at least two)", HelpName = "ID,ID", DefaultValueFactory = _ => "officer1,officer2" };
        var auditor = new Option<string>("--auditor") { Description = "with --production: the auditor account", HelpName = "ID", DefaultValueFactory = _ => "auditor" };
        var prefectures = new Option<string>("--prefectures") { Description = "configure these prefectures in jpki.json first (kept: those it lists already), then set up their issuers: all (47, 94 issuers) or JIS codes", HelpName = "all|CODE,CODE" };
        var init = new Command("init", "First-run key ceremony (idempotent: a second run changes nothing; a run cut off halfway finishes the rest).") { production, officers, auditor, prefectures };
        init.SetAction(p =>
        {
            // The list first, in jpki.json: the ceremony below then makes their issuers as it
            // makes any configured prefecture's, and a rerun without the option finishes them.
            if (p.GetValue(prefectures) is { } selection && Guarded(() =>
                {
                    var added = CeremonyPrefectures.Configure(JpkiSettings.HomeFromEnvironment(), selection);
                    Console.Out.WriteLine(added.Count == 0 ? "prefectures: every one chosen is configured already" : $"prefectures added to jpki.json: {added.Count} ({string.Join(", ", added.Select(a => a.Code))})");
                    return 0;
                }) != 0)
            {
                return Failed;
            }

            return InitCeremony(p);
        });
        int InitCeremony(ParseResult p) => WithContext(writes: true, creates: true, context =>
        {
            var made = Init(context);
            return made == 0 && p.GetValue(production)
                ? new AccountCeremony(context, Console.In).InitProduction(
                    p.GetValue(officers)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
                    p.GetValue(auditor)!)
                : made;
        });
        return init
            .WithExamples("./jpki hsm init", "./jpki hsm init --prefectures all", "./jpki hsm init --production --officers alice,bob --auditor carol")
            .WithExitCodes((0, "every key, certificate and record exists (made now or before)"), (Failed, "failed (the reason on standard error; a rerun finishes what is missing)"));
    }

    private static Command BreakGlassCommand()
    {
        var officer = new Option<string>("--officer") { Description = "the officer account to make or restore", HelpName = "ID", Required = true };
        var breakGlass = new Command("break-glass", "With fewer than two enabled officers: make or restore one officer, proven by the HSM security-officer PIN read from standard input.") { officer };
        breakGlass.SetAction(p => WithContext(writes: true, context => new AccountCeremony(context, Console.In).BreakGlass(p.GetValue(officer)!)));
        return breakGlass
            .WithExamples("./jpki hsm break-glass --officer officer3   (then type the SO PIN)")
            .WithExitCodes((0, "officer made or restored; credentials shown once"), (Failed, "refused: wrong SO PIN, two officers still enabled, or not an officer account"));
    }

    private static Command StatusCommand()
    {
        var status = new Command("status", "Issuers, key generations, certificates and expiry (JST), install keys, token keys with their protection flags.");
        status.SetAction(_ => WithContext(writes: false, StatusReport.Print));
        return status
            .WithExamples("./jpki hsm status")
            .WithExitCodes((0, "every key the store relies on is in the token"), (Failed, "a key the store relies on is missing from the token, or the token cannot be opened"));
    }

    private static Command RolloverCommand()
    {
        var issuer = new Option<string>("--issuer") { Description = "the issuer to roll over (an id of ./jpki hsm status, e.g. yamaguchi-ken-signing)", HelpName = "ID", Required = true };
        var at = new Option<string>("--at") { Description = "when new issuance switches to the new generation: ISO 8601 with an offset, at least rollover.leadDays (default 30) after the new root's publication", HelpName = "TIME", Required = true };
        var resume = new Option<bool>("--resume") { Description = "finish a half-done rollover of this issuer with this --at (the same --at resumes without it)" };
        var rollover = new Command("rollover", "Issuer key rollover: generation N+1 in the HSM, its root and published fingerprint, the NewWithOld and OldWithNew link certificates, its OCSP responder, and the switch of new issuance at TIME. Audited step by step; the same command again finishes a run cut off.") { issuer, at, resume };
        rollover.SetAction(p => WithContext(writes: true, context => Rollover(context, p.GetValue(issuer)!, p.GetValue(at)!, p.GetValue(resume))));
        return rollover
            .WithExamples("./jpki hsm rollover --issuer yamaguchi-ken-signing --at 2027-02-01T00:00:00+09:00")
            .WithExitCodes((0, "the rollover is done (now or before): N+1 published, linked, with its responder, issuing from TIME"), (Failed, "failed (the reason on standard error); the same command again resumes"), (CliApp.UsageError, "usage error, or refused with nothing changed: unknown issuer, TIME unreadable or earlier than leadDays after publication, another rollover of the issuer half done, or the last switch still pending"));
    }

    private static Command RetireCommand()
    {
        var retireKey = new Option<string>("--key") { Description = "the issuer key generation to retire (an id of ./jpki hsm status, e.g. yamaguchi-ken-signing-g1)", HelpName = "ID", Required = true };
        var retire = new Command("retire", "End of a key generation: after its root has expired, destroy its private keys (issuer key and OCSP responder keys) in the HSM on one officer's request and a second officer's approval (API tokens on standard input). Certificates, CRLs and the audit trail stay. Audited.") { retireKey };
        retire.SetAction(p => WithContext(writes: true, context => Retire(context, p.GetValue(retireKey)!)));
        return retire
            .WithExamples(
                "./jpki hsm retire --key yamaguchi-ken-signing-g1   (the requesting officer types their API token)",
                "./jpki hsm retire --key yamaguchi-ken-signing-g1   (then a second officer types theirs: the keys are destroyed)")
            .WithExitCodes(
                (0, "retired: the private keys are destroyed and the key marked retired (now or before)"),
                (Failed, "failed midway (the reason on standard error); an approved retirement finishes when the command runs again"),
                (CliApp.UsageError, "usage error, or refused with nothing changed: unknown key, root not yet expired, not an officer's token, the same officer approving their own request"),
                (AwaitingApproval, "requested: waiting for a second officer to run the same command"));
    }

    private static Command ResponderCompromiseCommand()
    {
        var compromisedKey = new Option<string>("--key") { Description = "the issuer key whose delegated OCSP responder key is compromised (an id of ./jpki hsm status)", HelpName = "ID", Required = true };
        var statement = new Option<string>("--statement") { Description = "why the responder key is compromised (3-1000 characters; recorded with the request, no secret)", HelpName = "TEXT" };
        var responderCompromise = new Command("responder-compromise", "An OCSP responder key is compromised: on one officer's request and a second officer's approval (API tokens on standard input), a new responder key and certificate at once, the compromised certificate revoked (keyCompromise, listed on the issuer's ARL), the OCSP responders switched at their next status poll, and the compromised private key destroyed in the HSM. Audited.") { compromisedKey, statement };
        responderCompromise.SetAction(p => WithContext(writes: true, context => CompromiseResponder(context, p.GetValue(compromisedKey)!, p.GetValue(statement))));
        return responderCompromise
            .WithExamples(
                "./jpki hsm responder-compromise --key yamaguchi-ken-signing-g1 --statement 'responder host breached, ticket 4711'   (the requesting officer types their API token)",
                "./jpki hsm responder-compromise --key yamaguchi-ken-signing-g1   (then a second officer types theirs: replaced, revoked, destroyed)")
            .WithExitCodes(
                (0, "replaced: a new responder certificate, the compromised one revoked and its key destroyed (now or before)"),
                (Failed, "failed midway (the reason on standard error); an approved replacement finishes when the command runs again"),
                (CliApp.UsageError, "usage error, or refused with nothing changed: unknown or inactive key, no responder, no statement, not an officer's token, the same officer approving their own request"),
                (AwaitingApproval, "requested: waiting for a second officer to run the same command"));
    }

    private static Command CheckpointCompromiseCommand()
    {
        var checkpointStatement = new Option<string>("--statement") { Description = "why the audit-checkpoint key is compromised (3-1000 characters; recorded with the request, no secret)", HelpName = "TEXT" };
        var checkpointCompromise = new Command("checkpoint-compromise", "The audit-checkpoint key is compromised: on one officer's request and a second officer's approval (API tokens on standard input), a new checkpoint key and certificate in the HSM, a handover checkpoint signed by both keys (auditors pinning the old key follow it; audit verify refuses any later checkpoint by the old key), the old private key destroyed, and the re-pin report for auditors. Audited.") { checkpointStatement };
        checkpointCompromise.SetAction(p => WithContext(writes: true, context => CompromiseCheckpointKey(context, p.GetValue(checkpointStatement))));
        return checkpointCompromise
            .WithExamples(
                "./jpki hsm checkpoint-compromise --statement 'HSM partition credentials leaked, ticket 4712'   (the requesting officer types their API token)",
                "./jpki hsm checkpoint-compromise   (then a second officer types theirs: new key, dual-signed handover, old key destroyed, re-pin report)")
            .WithExitCodes(
                (0, "handed over: the new key signs, the old one is destroyed (now or before); the re-pin report is printed"),
                (Failed, "failed midway (the reason on standard error); an approved handover finishes when the command runs again"),
                (CliApp.UsageError, "usage error, or refused with nothing changed: no checkpoint key, no statement, not an officer's token, the same officer approving their own request"),
                (AwaitingApproval, "requested: waiting for a second officer to run the same command"));
    }

    private static Command BackupCommand()
    {
        var outFile = new Option<string>("--out") { Description = "the tar archive to write (mode 0600)", HelpName = "FILE", Required = true };
        var backup = new Command("backup", "Back the token up: its SoftHSM files and a SHA-256 manifest in a tar archive. Audited.") { outFile };
        backup.SetAction(p => WithContext(writes: true, context => Backup(context, p.GetValue(outFile)!)));
        return backup
            .WithExamples("./jpki hsm backup --out /srv/backup/jpki-token-2026-11-22.tar")
            .WithExitCodes((0, "archive written and audited"), (Failed, "failed (the reason on standard error); no archive at FILE"));
    }

    private static Command RestoreCommand()
    {
        var inFile = new Option<string>("--in") { Description = "an archive made by hsm backup", HelpName = "FILE", Required = true };
        var replace = new Option<bool>("--replace") { Description = "overwrite a token that is present" };
        var restore = new Command("restore", "Restore a token backup: every file checked against the manifest before anything is written. Audited.") { inFile, replace };
        restore.SetAction(p => WithContext(writes: true, context => Restore(context, p.GetValue(inFile)!, p.GetValue(replace))));
        return restore
            .WithExamples("./jpki hsm restore --in /srv/backup/jpki-token-2026-11-22.tar --replace")
            .WithExitCodes((0, "restored and audited"), (Failed, "refused (bad archive, a file not matching the manifest, a present token without --replace)"));
    }
}
