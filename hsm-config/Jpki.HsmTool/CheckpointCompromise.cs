using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Issuers;
using Jpki.Hsm;

namespace Jpki.HsmTool;

/// <summary>What one run of <c>./jpki hsm checkpoint-compromise</c> did.</summary>
public enum CheckpointCompromiseOutcome
{
    /// <summary>The key is handed over to a new one and destroyed (now, or by an earlier run).</summary>
    HandedOver,

    /// <summary>One officer's request is recorded; a second officer must approve it.</summary>
    AwaitingApproval,
}

/// <summary>
/// <c>./jpki hsm checkpoint-compromise --statement TEXT</c>: the audit-checkpoint key is
/// compromised (decision 0421). On one officer's request and a second, different officer's
/// approval (<see cref="OfficerApproval"/>): a new P-256 key in the HSM (generated as the ceremony
/// generates the first: sensitive, never extractable, sign-only) and its self-signed certificate;
/// then, in the transaction that records that certificate, the old key retired and the handover
/// record checkpointed by both keys (<see cref="AuditLog.AppendHandover"/>) — auditors pinning
/// the old key follow that one checkpoint to the new key, and <c>audit verify</c> refuses any
/// later checkpoint signed by the old key; then the old private key destroyed in the HSM with its
/// own audit record, and the re-pin report written. An approved handover cut off midway finishes
/// when the command runs again.
/// </summary>
internal sealed class CheckpointCompromise(ToolContext context, TextReader input)
{
    public const string DestroyedAction = "audit.checkpoint-key.destroyed";

    private TextWriter Output => context.Output;

    /// <summary>What an approved request names: the old key (id, HSM label) and the new key's id (= its HSM label).</summary>
    private sealed record Handover(string OldKeyId, string OldLabel, string NewKeyId, string Statement, long Approval, string RequestedBy, string ApprovedBy);

    /// <exception cref="ToolRefusedException">Refused; nothing changed.</exception>
    public CheckpointCompromiseOutcome Run(string? statement)
    {
        if (Unfinished() is { } left)
        {
            Output.WriteLine($"resuming the handover of checkpoint key {left.OldKeyId} to {left.NewKeyId} approved by {left.ApprovedBy} (request {left.Approval})");
            Finish(left);
            return CheckpointCompromiseOutcome.HandedOver;
        }

        InstallKeyRow current;
        int next;
        using (var db = context.Database.OpenConnection())
        {
            current = IssuerStore.CurrentCheckpointKey(db) ?? throw new ToolRefusedException("no-checkpoint-key", "the store has no audit-checkpoint key: run ./jpki hsm init");
            next = IssuerStore.ListInstallKeys(db, "audit-checkpoint").Count + 1;
        }

        var because = statement?.Trim() ?? "";
        var newKeyId = $"audit-checkpoint-{next.ToString(CultureInfo.InvariantCulture)}";
        var approval = new OfficerApproval(context, input, ApprovalAction.CheckpointKeyCompromise).Run(
            current.Id,
            new JsonObject { ["oldKeyId"] = current.Id, ["hsmKeyLabel"] = current.HsmKeyLabel, ["newKeyId"] = newKeyId, ["statement"] = because },
            new OfficerApproval.Wording($"the handover of the compromised audit-checkpoint key {current.Id} to a new key", $"to hand the audit-checkpoint key {current.Id} over to a new key"),
            () =>
            {
                if (because.Length is < 3 or > 1000)
                {
                    throw new ToolRefusedException("statement-required", "--statement (3-1000 characters) must say why the checkpoint key is compromised");
                }
            });
        if (approval is not { } now)
        {
            Output.WriteLine($"waiting for a second officer: another officer runs ./jpki hsm checkpoint-compromise within {context.Settings.Accounts.ApprovalWindowMinutes} minutes and types their API token");
            return CheckpointCompromiseOutcome.AwaitingApproval;
        }

        Finish(FromRequest(now.Request, now.ApprovedBy)!);
        return CheckpointCompromiseOutcome.HandedOver;
    }

    private static Handover? FromRequest(ApprovalRequest request, string approvedBy) =>
        request.Payload["oldKeyId"]?.GetValue<string>() is { } oldKeyId
        && request.Payload["hsmKeyLabel"]?.GetValue<string>() is { } label
        && request.Payload["newKeyId"]?.GetValue<string>() is { } newKeyId
            ? new Handover(oldKeyId, label, newKeyId, request.Payload["statement"]?.GetValue<string>() ?? "", request.Id, request.RequestedBy, approvedBy)
            : null;

    /// <summary>An approved handover whose old key is still active or still in the token: not finished.</summary>
    private Handover? Unfinished()
    {
        using var db = context.Database.OpenConnection();
        foreach (var key in IssuerStore.ListInstallKeys(db, "audit-checkpoint"))
        {
            if (ApprovalStore.LatestApproved(db, ApprovalAction.CheckpointKeyCompromise, key.Id) is { DecidedBy: { } by } approved
                && FromRequest(approved, by) is { } handover
                && (IssuerStore.FindInstallKey(db, handover.OldKeyId)?.State == "active" || context.Token.HasKey(handover.OldLabel)))
            {
                return handover;
            }
        }

        return null;
    }

    private void Finish(Handover handover)
    {
        bool handedOverBefore;
        using (var db = context.Database.OpenConnection())
        {
            handedOverBefore = IssuerStore.FindInstallKey(db, handover.OldKeyId)?.State != "active";
        }

        if (!handedOverBefore)
        {
            HandOver(handover);
        }

        if (context.Token.HasKey(handover.OldLabel))
        {
            Destroy(handover);
        }

        KeyCeremony.ExportCertificates(context.Settings, context.Database);
        var report = RepinReport.Write(context, handover.OldKeyId, handover.NewKeyId);
        Output.Write(report.Text);
        Output.WriteLine($"re-pin report: {report.TextPath}; the dual-signed handover checkpoint: {report.DocumentPath}");
        Output.WriteLine("restart the services (stop ./jpki up and run it again, or restart their units) so that they sign with the new key: until then their checkpoints wait, records are still chained");
    }

    /// <summary>The new key and certificate, and in the certificate's transaction the old key retired and the dual-signed handover.</summary>
    private void HandOver(Handover handover)
    {
        var token = context.Token;
        if (!token.HasKey(handover.NewKeyId))
        {
            // A run cut off after this generated it finds it in the token: the request named it.
            token.GenerateKeyPair(KeyKind.EcP256, handover.NewKeyId);
            Output.WriteLine($"generated audit-checkpoint key '{handover.NewKeyId}' (P-256) in token '{context.Settings.TokenLabel}'");
        }

        var actor = $"checkpoint-compromise:{handover.RequestedBy}+{handover.ApprovedBy}";
        using var pool = token.CreatePool("ceremony", 1);
        using var oldSigner = Pkcs11Signer.Open(pool, handover.OldLabel);
        using var newSigner = Pkcs11Signer.Open(pool, handover.NewKeyId);
        var audit = new AuditLog(oldSigner, context.Settings.AuditOptions());
        var number = int.Parse(handover.NewKeyId[(handover.NewKeyId.LastIndexOf('-') + 1)..], CultureInfo.InvariantCulture);
        long? seq = null;
        new CeremonyCertificates(context.Settings, context.Database, audit, actor).IssueCheckpointCertificate(newSigner, handover.NewKeyId, number, tx =>
        {
            IssuerStore.RetireInstallKey(tx, handover.OldKeyId);
            var certificate = IssuerStore.FindInstallKey(tx.Connection, handover.NewKeyId, tx.Transaction)!.CertificateDer!;
            seq = audit.AppendHandover(tx, new AuditRecord(actor, AuditLog.CheckpointKeyHandoverAction, handover.OldKeyId, new JsonObject
            {
                ["oldKeyId"] = handover.OldKeyId,
                ["newKeyId"] = handover.NewKeyId,
                ["oldPublicKeyId"] = AuditCheckpoint.KeyIdOf(oldSigner.SubjectPublicKeyInfo),
                ["newPublicKeyId"] = AuditCheckpoint.KeyIdOf(newSigner.SubjectPublicKeyInfo),
                ["newCertificateSha256"] = Convert.ToHexStringLower(SHA256.HashData(certificate)),
                ["statement"] = handover.Statement,
                ["approval"] = handover.Approval,
                ["requestedBy"] = handover.RequestedBy,
                ["approvedBy"] = handover.ApprovedBy,
            }), newSigner).Seq;
        });
        if (seq is null)
        {
            throw new InvalidOperationException($"checkpoint key '{handover.NewKeyId}' was recorded without a handover (by another run): check ./jpki audit verify");
        }

        Output.WriteLine($"handed the audit-checkpoint key over from '{handover.OldKeyId}' to '{handover.NewKeyId}' at record {seq}: its checkpoint is signed by both keys");
    }

    private void Destroy(Handover handover)
    {
        var destroyed = context.Token.DestroyPrivateKeys(handover.OldLabel);
        AuditedStep.InTransaction(context, (tx, audit) => audit.Append(tx, new AuditRecord($"checkpoint-compromise:{handover.RequestedBy}+{handover.ApprovedBy}", DestroyedAction, handover.OldKeyId, new JsonObject
        {
            ["hsmKeyLabel"] = handover.OldLabel,
            ["privateKeyObjectsDestroyed"] = destroyed,
            ["approval"] = handover.Approval,
            ["token"] = context.Settings.TokenLabel,
        })));
        Output.WriteLine($"destroyed private key '{handover.OldLabel}' ({destroyed} object(s)) in token '{context.Settings.TokenLabel}'");
    }
}

/// <summary>
/// What auditors must re-pin after a handover: the new key's SubjectPublicKeyInfo SHA-256 (what
/// <c>--key-sha256</c> pins) and certificate, and the dual-signed handover checkpoint that links
/// it to the old pin. Written to <c>$JPKI_HOME/audit/checkpoint-key-handover-{seq}.txt</c> and
/// <c>.json</c> (the witness document of the handover checkpoint).
/// </summary>
internal static class RepinReport
{
    public sealed record Written(string Text, string TextPath, string DocumentPath);

    public static Written Write(ToolContext context, string oldKeyId, string newKeyId)
    {
        using var db = context.Database.OpenConnection();
        var seq = db.QuerySingle<long>(
            "SELECT MAX(seq) FROM audit_log WHERE action = @action AND subject = @oldKeyId",
            new { action = AuditLog.CheckpointKeyHandoverAction, oldKeyId });
        var checkpoint = AuditCheckpointStore.Range(db, seq - 1, seq).Single();
        var document = AuditCheckpointDocument.From(checkpoint, AuditCheckpointDocument.CheckpointCertificates(db));
        var certificate = IssuerStore.FindInstallKey(db, newKeyId)!.CertificateDer!;
        var newPin = AuditCheckpoint.KeyIdOf(CheckpointKeyring.SubjectPublicKeyInfoOf(certificate));
        var directory = Path.Combine(context.Settings.Home, "audit");
        Directory.CreateDirectory(directory);
        var name = $"checkpoint-key-handover-{seq.ToString("D12", CultureInfo.InvariantCulture)}";
        var documentPath = Path.Combine(directory, name + ".json");
        File.WriteAllBytes(documentPath, document.ToUtf8Bytes());
        var text = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"AUDITORS: RE-PIN THE AUDIT-CHECKPOINT KEY")
            .AppendLine(CultureInfo.InvariantCulture, $"  old key {oldKeyId}: SubjectPublicKeyInfo SHA-256 {checkpoint.KeyId} (compromised; signs nothing after record {seq})")
            .AppendLine(CultureInfo.InvariantCulture, $"  new key {newKeyId}: SubjectPublicKeyInfo SHA-256 {newPin}   <- record this as your new --key-sha256")
            .AppendLine(CultureInfo.InvariantCulture, $"  new key's certificate SHA-256 {Convert.ToHexStringLower(SHA256.HashData(certificate))} ({Path.Combine(context.Settings.Home, "certs", newKeyId + ".pem")})")
            .AppendLine(CultureInfo.InvariantCulture, $"  handover: the checkpoint at record {seq} is signed by both keys ({documentPath})")
            .AppendLine(CultureInfo.InvariantCulture, $"  check: ./jpki audit verify --key-sha256 {checkpoint.KeyId}   (the old pin: follows the handover)")
            .AppendLine(CultureInfo.InvariantCulture, $"  check: ./jpki audit verify --key-sha256 {newPin}   (the new pin)")
            .ToString();
        var textPath = Path.Combine(directory, name + ".txt");
        File.WriteAllText(textPath, text);
        return new Written(text, textPath, documentPath);
    }
}
