using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Jpki.Cli;
using Jpki.Core;
using Jpki.Core.Audit;
using Jpki.Core.Configuration;
using Jpki.Core.Issuers;
using Jpki.Core.Profiles;
using Jpki.Core.Store;
using Jpki.Hsm;

namespace Jpki.HsmTool;

/// <summary>
/// The issuer key rollover ceremony (`./jpki hsm rollover --issuer ID --at TIME`, docs/rollover.md):
/// generation N+1 of an issuer made next to N, whose certificates, CRLs and OCSP answers go on.
/// Steps, each audited in the transaction of what it changes and skipped when already done (so a
/// run cut off is resumed by running the same command again):
/// started (the rollover row), key (N+1 in the HSM: sensitive, never extractable, sign-only, like
/// the first ceremony's), root (self-signed per docs/jpki-profile.md §2, by the ceremony's
/// <see cref="CeremonyCertificates.IssueRoot"/>), published (the root and its SHA-256 fingerprint
/// under certs/ and over the CA's HTTP; the lead time counts from here), links (NewWithOld signed
/// by N, OldWithNew signed by N+1), responder (N+1's delegated OCSP responder), switch (issuance
/// moves to N+1 at TIME, at least <c>rollover.leadDays</c> after publication).
/// </summary>
public sealed class KeyRollover(ToolContext context, StepProgress? progress = null)
{
    private static readonly string[] StepOrder = ["started", "key", "root", "published", "links", "responder", "switch"];

    private readonly List<string> _changes = [];

    private JpkiSettings Settings => context.Settings;

    private static string Actor => $"ceremony:{Environment.UserName}";

    /// <summary>Parses <c>--at</c>: ISO 8601 with an explicit offset (<c>2027-01-10T00:00:00+09:00</c> or <c>...Z</c>).</summary>
    /// <exception cref="RolloverRefusedException">invalid-time.</exception>
    public static DateTimeOffset ParseTime(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var hasOffset = text.EndsWith('Z') || text.EndsWith('z') || (text.Length > 6 && text[^6] is '+' or '-' && text[^3] == ':');
        if (!hasOffset || !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var time))
        {
            throw new RolloverRefusedException("invalid-time", $"--at '{text}' is not an ISO 8601 time with an offset (e.g. 2027-01-10T00:00:00+09:00)");
        }

        return time;
    }

    /// <summary>Runs or resumes the rollover of <paramref name="issuerId"/>; returns what it changed (empty: it was already done).</summary>
    /// <exception cref="RolloverRefusedException">The rollover is refused; nothing was changed by this call.</exception>
    public IReadOnlyList<string> Run(string issuerId, DateTimeOffset switchAt, bool resume)
    {
        var steps = progress ?? StepProgress.Silent;
        steps.Total = StepOrder.Length + 1;
        var database = context.Database;
        using var pool = context.Token.CreatePool("ceremony", 1);
        using var checkpointSigner = context.OpenCheckpointSigner(pool);
        var audit = new AuditLog(checkpointSigner, Settings.AuditOptions());

        steps.Step($"issuer {issuerId}: rollover record");
        var rollover = Begin(database, audit, issuerId, switchAt, resume);
        if (rollover is null)
        {
            steps.Done($"rollover of {issuerId}: nothing to do");
            return _changes;
        }

        IssuerRow issuer;
        IssuerKeyRow oldKey;
        using (var db = database.OpenConnection())
        {
            issuer = IssuerStore.FindIssuer(db, issuerId)!;
            oldKey = IssuerStore.FindKey(db, rollover.FromKeyId)!;
        }

        var kind = issuer.Kind == "signing" ? IssuerKind.Signing : IssuerKind.Authentication;
        var prefecture = Settings.Prefectures.FirstOrDefault(p => p.Name == issuer.Prefecture)
            ?? throw new InvalidOperationException($"issuer '{issuerId}' is of prefecture '{issuer.Prefecture}', which jpki.json no longer lists");
        var newKeyId = rollover.ToKeyId;

        steps.Step($"key '{newKeyId}' (RSA-{Settings.Ceremony.RsaBits}) in token '{context.Token.Label}'");
        EnsureKey(database, audit, rollover);

        using var oldSigner = Pkcs11Signer.Open(pool, oldKey.HsmKeyLabel);
        using var newSigner = Pkcs11Signer.Open(pool, newKeyId);
        steps.Step($"root certificate of '{newKeyId}'");
        var newKey = EnsureRoot(database, audit, rollover, newSigner, prefecture, kind);

        steps.Step($"publication of '{newKeyId}': root and SHA-256 fingerprint");
        newKey = EnsurePublished(database, audit, rollover, newKey);

        steps.Step($"link certificates '{newKeyId}-by-{oldKey.Id}' (NewWithOld) and '{oldKey.Id}-by-{newKeyId}' (OldWithNew)");
        EnsureLinks(database, audit, rollover, oldKey, newKey, oldSigner, newSigner, prefecture, kind);

        steps.Step($"OCSP responder of '{newKeyId}'");
        EnsureResponder(database, audit, rollover, newKey, newSigner, pool);

        steps.Step($"switch of new issuance to '{newKeyId}'");
        EnsureSwitch(database, audit, rollover, newKey);

        steps.Step("closing checkpoint and PEM certificates");
        if (_changes.Count > 0)
        {
            audit.Checkpoint(database);
        }

        KeyCeremony.ExportCertificates(Settings, database);
        steps.Done($"rollover of {issuerId} to generation {rollover.Generation}: {_changes.Count} changes");
        return _changes;
    }

    /// <summary>The rollover to carry on: a new one, or the one half done; null when this exact rollover is complete.</summary>
    private IssuerRolloverRow? Begin(Database database, AuditLog audit, string issuerId, DateTimeOffset switchAt, bool resume)
    {
        var now = database.Time.GetUtcNow();
        var lead = TimeSpan.FromDays(Settings.Rollover.LeadDays);
        var switchAtUs = Instant.ToMicros(switchAt);
        using var tx = database.BeginWrite();
        var issuer = IssuerStore.FindIssuer(tx.Connection, issuerId, tx.Transaction)
            ?? throw new RolloverRefusedException("unknown-issuer", $"no issuer '{issuerId}' (see ./jpki hsm status)");

        if (IssuerRolloverStore.FindOpen(tx.Connection, issuerId, tx.Transaction) is { } open)
        {
            return Continue(tx, audit, open, switchAt, resume, now, lead);
        }

        var latest = IssuerRolloverStore.FindLatest(tx.Connection, issuerId, tx.Transaction);
        if (latest is not null && latest.SwitchAtUs == switchAtUs)
        {
            // The same command again after it finished: idempotent.
            return null;
        }

        if (resume)
        {
            throw new RolloverRefusedException("nothing-to-resume", $"no rollover of {issuerId} is half done");
        }

        var keys = IssuerStore.ListKeys(tx.Connection, issuerId);
        var current = IssuingGeneration(keys, issuerId, now);
        EnsureLead(switchAt, now, lead);
        var generation = keys.Max(k => k.Generation) + 1;
        var row = new IssuerRolloverRow
        {
            ToKeyId = $"{issuerId}-g{generation}",
            IssuerId = issuerId,
            FromKeyId = current.Id,
            Generation = generation,
            Step = "started",
            SwitchAtUs = switchAtUs,
            Actor = Actor,
            StartedUs = Instant.ToMicros(now),
        };
        IssuerRolloverStore.Insert(tx, row);
        audit.Append(tx, new AuditRecord(Actor, "rollover.started", issuerId, new JsonObject
        {
            ["fromKeyId"] = current.Id,
            ["toKeyId"] = row.ToKeyId,
            ["generation"] = generation,
            ["switchAtUs"] = switchAtUs,
            ["leadDays"] = Settings.Rollover.LeadDays,
            ["subject"] = issuer.SubjectDn,
        }));
        tx.Commit();
        _changes.Add($"started the rollover of {issuerId} from '{current.Id}' to '{row.ToKeyId}' (generation {generation}), switch at {Show(switchAt)}");
        return row;
    }

    /// <summary>The generation to roll over from: the newest active one, which must already issue.</summary>
    private static IssuerKeyRow IssuingGeneration(IReadOnlyList<IssuerKeyRow> keys, string issuerId, DateTimeOffset now)
    {
        var current = keys.Where(k => k.State == "active" && k.CertificateDer is not null).MaxBy(k => k.Generation)
            ?? throw new RolloverRefusedException("unknown-issuer", $"issuer '{issuerId}' has no active key generation to roll over from");
        if (current.IssuesFromUs is not { } issuesFrom || issuesFrom > Instant.ToMicros(now))
        {
            throw new RolloverRefusedException("switch-pending", $"generation {current.Generation} of {issuerId} ('{current.Id}') does not issue yet (switch at {(current.IssuesFromUs is { } at ? Show(Instant.FromMicros(at)) : "none")}): roll over again after its switch");
        }

        return current;
    }

    /// <summary>
    /// The half-done rollover <paramref name="open"/>: the same switch time resumes it; another one
    /// only with <c>--resume</c> (rescheduled and audited, the lead checked from its publication).
    /// </summary>
    private IssuerRolloverRow Continue(WriteTransaction tx, AuditLog audit, IssuerRolloverRow open, DateTimeOffset switchAt, bool resume, DateTimeOffset now, TimeSpan lead)
    {
        var switchAtUs = Instant.ToMicros(switchAt);
        if (open.SwitchAtUs == switchAtUs)
        {
            _changes.Add($"resuming the rollover of {open.IssuerId} to '{open.ToKeyId}' after step '{open.Step}'");
            return open;
        }

        if (!resume)
        {
            throw new RolloverRefusedException("rollover-in-progress", $"a rollover of {open.IssuerId} to '{open.ToKeyId}' is half done (last step '{open.Step}', switch at {Show(Instant.FromMicros(open.SwitchAtUs!.Value))}): run the same command with --at {Instant.FromMicros(open.SwitchAtUs!.Value):yyyy-MM-ddTHH:mm:ssZ} to finish it, or --resume --at TIME to finish it with another switch time");
        }

        EnsureLead(switchAt, PublishedOrNow(tx, open.ToKeyId, now), lead);
        IssuerRolloverStore.Reschedule(tx, open.ToKeyId, switchAtUs);
        audit.Append(tx, new AuditRecord(Actor, "rollover.rescheduled", open.IssuerId, new JsonObject
        {
            ["toKeyId"] = open.ToKeyId,
            ["previousSwitchAtUs"] = open.SwitchAtUs,
            ["switchAtUs"] = switchAtUs,
        }));
        tx.Commit();
        open.SwitchAtUs = switchAtUs;
        _changes.Add($"resuming the rollover of {open.IssuerId} to '{open.ToKeyId}' after step '{open.Step}' with the switch at {Show(switchAt)}");
        return open;
    }

    private static DateTimeOffset PublishedOrNow(WriteTransaction tx, string keyId, DateTimeOffset now) =>
        IssuerStore.FindKey(tx.Connection, keyId, tx.Transaction)?.PublishedUs is { } published ? Instant.FromMicros(published) : now;

    private void EnsureLead(DateTimeOffset switchAt, DateTimeOffset published, TimeSpan lead)
    {
        if (switchAt < published + lead)
        {
            throw new RolloverRefusedException("switch-too-early", $"--at {Show(switchAt)} is less than rollover.leadDays ({Settings.Rollover.LeadDays}) after the new root's publication ({Show(published)}): the earliest switch is {Show(published + lead)}; verifiers must pin the new generation first");
        }
    }

    /// <summary>An instant as officers read it: JST to the second.</summary>
    internal static string Show(DateTimeOffset instant) =>
        Jst.ToJst(instant).ToString("yyyy-MM-dd HH:mm:ss 'JST'", CultureInfo.InvariantCulture);

    private static bool Done(IssuerRolloverRow rollover, string step) =>
        Array.IndexOf(StepOrder, rollover.Step) >= Array.IndexOf(StepOrder, step);

    private static void Advance(WriteTransaction tx, AuditLog audit, IssuerRolloverRow rollover, string step, string action, JsonObject details)
    {
        IssuerRolloverStore.SetStep(tx, rollover.ToKeyId, step);
        details["toKeyId"] = rollover.ToKeyId;
        details["step"] = step;
        audit.Append(tx, new AuditRecord(Actor, action, rollover.IssuerId, details));
        rollover.Step = step;
    }

    private void EnsureKey(Database database, AuditLog audit, IssuerRolloverRow rollover)
    {
        var token = context.Token;
        if (!token.HasKey(rollover.ToKeyId))
        {
            // The first ceremony's attributes: sensitive, never extractable, sign-only (HsmToken).
            token.GenerateKeyPair(KeyKind.Rsa, rollover.ToKeyId, Settings.Ceremony.RsaBits);
            _changes.Add($"generated issuer key '{rollover.ToKeyId}' (RSA-{Settings.Ceremony.RsaBits})");
        }

        if (Done(rollover, "key"))
        {
            return;
        }

        using var pool = token.CreatePool("rollover-key", 1);
        using var signer = Pkcs11Signer.Open(pool, rollover.ToKeyId);
        using var tx = database.BeginWrite();
        Advance(tx, audit, rollover, "key", "rollover.key.generated", new JsonObject
        {
            ["hsmKeyLabel"] = rollover.ToKeyId,
            ["publicKeySha256"] = Convert.ToHexStringLower(SHA256.HashData(signer.SubjectPublicKeyInfo)),
        });
        tx.Commit();
    }

    private IssuerKeyRow EnsureRoot(Database database, AuditLog audit, IssuerRolloverRow rollover, ISigner newSigner, PrefectureSettings prefecture, IssuerKind kind)
    {
        using (var db = database.OpenConnection())
        {
            if (IssuerStore.FindKey(db, rollover.ToKeyId) is { CertificateDer: not null } existing)
            {
                return existing;
            }
        }

        var (_, serial) = new CeremonyCertificates(Settings, database, audit, Actor).IssueRoot(
            newSigner,
            prefecture,
            kind,
            rollover.IssuerId,
            rollover.ToKeyId,
            rollover.Generation,
            tx => Advance(tx, audit, rollover, "root", "rollover.step", new JsonObject()));
        if (serial is not null)
        {
            _changes.Add($"issued root certificate of '{rollover.ToKeyId}' (serial {serial})");
        }

        using var read = database.OpenConnection();
        return IssuerStore.FindKey(read, rollover.ToKeyId)!;
    }

    private IssuerKeyRow EnsurePublished(Database database, AuditLog audit, IssuerRolloverRow rollover, IssuerKeyRow newKey)
    {
        if (newKey.PublishedUs is not null)
        {
            return newKey;
        }

        // The files first (the CA serves the same bytes from the store once published_us is set).
        var dir = Path.Combine(Settings.Home, "certs");
        Directory.CreateDirectory(dir);
        KeyCeremony.WritePem(Path.Combine(dir, $"{newKey.Id}.pem"), newKey.CertificateDer!);
        File.WriteAllText(Path.Combine(dir, $"{newKey.Id}.sha256"), RootFingerprint.Line(newKey.CertificateDer!));

        var now = Instant.NowMicros(database.Time);
        using var tx = database.BeginWrite();
        IssuerStore.MarkPublished(tx, newKey.Id, now);
        Advance(tx, audit, rollover, "published", "rollover.root.published", new JsonObject
        {
            ["keyId"] = newKey.Id,
            ["certificateSha256"] = Convert.ToHexStringLower(SHA256.HashData(newKey.CertificateDer!)),
            ["files"] = new JsonArray($"certs/{newKey.Id}.pem", $"certs/{newKey.Id}.sha256"),
            ["url"] = $"{Settings.Urls.CaListen.TrimEnd('/')}/api/v1/issuers/{rollover.IssuerId}/generations/{rollover.Generation}/fingerprint",
        });
        tx.Commit();
        _changes.Add($"published the root of '{newKey.Id}': {RootFingerprint.Line(newKey.CertificateDer!).TrimEnd()}");
        newKey.PublishedUs = now;
        return newKey;
    }

    private void EnsureLinks(Database database, AuditLog audit, IssuerRolloverRow rollover, IssuerKeyRow oldKey, IssuerKeyRow newKey, ISigner oldSigner, ISigner newSigner, PrefectureSettings prefecture, IssuerKind kind)
    {
        var certificates = new CeremonyCertificates(Settings, database, audit, Actor);
        if (certificates.IssueLink(oldSigner, oldKey, newKey, LinkDirection.NewWithOld, prefecture, kind) is { } newWithOld)
        {
            _changes.Add($"issued link certificate NewWithOld '{newKey.Id}-by-{oldKey.Id}' (serial {newWithOld})");
        }

        if (certificates.IssueLink(newSigner, newKey, oldKey, LinkDirection.OldWithNew, prefecture, kind) is { } oldWithNew)
        {
            _changes.Add($"issued link certificate OldWithNew '{oldKey.Id}-by-{newKey.Id}' (serial {oldWithNew})");
        }

        if (!Done(rollover, "links"))
        {
            using var tx = database.BeginWrite();
            Advance(tx, audit, rollover, "links", "rollover.step", new JsonObject());
            tx.Commit();
        }
    }

    private void EnsureResponder(Database database, AuditLog audit, IssuerRolloverRow rollover, IssuerKeyRow newKey, ISigner newSigner, SessionPool pool)
    {
        using (var db = database.OpenConnection())
        {
            if (IssuerStore.FindCurrentResponder(db, newKey.Id) is not null)
            {
                return;
            }
        }

        var label = $"{newKey.Id}-ocsp-1";
        if (!context.Token.HasKey(label))
        {
            var responderKind = Settings.Ceremony.ResponderKey == "p256" ? KeyKind.EcP256 : KeyKind.Rsa;
            context.Token.GenerateKeyPair(responderKind, label, Settings.Ceremony.RsaBits);
            _changes.Add($"generated OCSP responder key '{label}' ({responderKind})");
        }

        using var responderSigner = Pkcs11Signer.Open(pool, label);
        if (new CeremonyCertificates(Settings, database, audit, Actor).IssueResponder(
                newSigner,
                responderSigner,
                newKey.CertificateDer!,
                newKey.Id,
                label,
                tx => Advance(tx, audit, rollover, "responder", "rollover.step", new JsonObject())) is { } serial)
        {
            _changes.Add($"issued OCSP responder certificate for '{newKey.Id}' (serial {serial})");
        }
    }

    private void EnsureSwitch(Database database, AuditLog audit, IssuerRolloverRow rollover, IssuerKeyRow newKey)
    {
        var switchAt = Instant.FromMicros(rollover.SwitchAtUs!.Value);

        // The lead counts from the publication actually recorded (a run resumed days later publishes later).
        EnsureLead(switchAt, Instant.FromMicros(newKey.PublishedUs!.Value), TimeSpan.FromDays(Settings.Rollover.LeadDays));
        using var tx = database.BeginWrite();
        IssuerStore.SetIssuesFrom(tx, newKey.Id, rollover.SwitchAtUs.Value);
        Advance(tx, audit, rollover, "switch", "rollover.switch-scheduled", new JsonObject
        {
            ["fromKeyId"] = rollover.FromKeyId,
            ["switchAtUs"] = rollover.SwitchAtUs.Value,
        });
        IssuerRolloverStore.Complete(tx, rollover.ToKeyId, Instant.NowMicros(database.Time));
        tx.Commit();
        _changes.Add($"new issuance of {rollover.IssuerId} switches from '{rollover.FromKeyId}' to '{rollover.ToKeyId}' at {Show(switchAt)}");
    }
}
