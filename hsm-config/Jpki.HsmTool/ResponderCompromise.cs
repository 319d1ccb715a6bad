using System.Globalization;
using System.Text.Json.Nodes;
using Jpki.Core;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Issuers;
using Jpki.Core.Store;
using Jpki.Hsm;

namespace Jpki.HsmTool;

/// <summary>What one run of <c>./jpki hsm responder-compromise</c> did.</summary>
public enum ResponderCompromiseOutcome
{
    /// <summary>The responder is replaced, its certificate revoked and its key destroyed (now, or by an earlier run).</summary>
    Replaced,

    /// <summary>One officer's request is recorded; a second officer must approve it.</summary>
    AwaitingApproval,
}

/// <summary>
/// <c>./jpki hsm responder-compromise --key ID --statement TEXT</c>: the delegated OCSP responder
/// key of issuer key ID is compromised (decision 0420). On one officer's request and a second,
/// different officer's approval (<see cref="OfficerApproval"/>), in one transaction: a new
/// responder key and certificate (<see cref="ResponderRenewal.ReplaceNow"/>, the renewal path) and
/// the compromised certificate revoked with keyCompromise, so the ARL and the full CRL of the
/// issuer key list it and the OCSP responders switch at their next status poll (the revocation of
/// a served responder certificate makes them re-read the store and re-sign their cached answers);
/// then the compromised private key is destroyed in the HSM (C_DestroyObject) with its own audit
/// record. An approved replacement cut off midway finishes when the command runs again.
/// </summary>
internal sealed class ResponderCompromise(ToolContext context, TextReader input)
{
    public const string RevokedAction = "ocsp-responder.revoked";
    public const string DestroyedAction = "ocsp-responder.key-destroyed";

    private TextWriter Output => context.Output;

    /// <exception cref="ToolRefusedException">Refused; nothing changed.</exception>
    public ResponderCompromiseOutcome Run(string keyId, string? statement)
    {
        var key = CheckKey(keyId);
        using (var db = context.Database.OpenConnection())
        {
            if (ApprovalStore.LatestApproved(db, ApprovalAction.ResponderKeyCompromise, keyId) is { } approved && Unfinished(db, approved) is { } left)
            {
                Output.WriteLine($"resuming the replacement of responder {left.Serial} of {keyId} approved by {approved.DecidedBy} (request {approved.Id})");
                Finish(key, left, approved.RequestedBy, approved.DecidedBy!, approved.Id);
                return ResponderCompromiseOutcome.Replaced;
            }
        }

        var compromised = CurrentResponder(keyId);
        var because = statement?.Trim() ?? "";

        var approval = new OfficerApproval(context, input, ApprovalAction.ResponderKeyCompromise).Run(
            keyId,
            new JsonObject { ["responderSerial"] = compromised.Serial, ["hsmKeyLabel"] = compromised.HsmKeyLabel, ["statement"] = because },
            new OfficerApproval.Wording($"the replacement of the compromised OCSP responder {compromised.Serial} of {keyId}", $"to replace the OCSP responder {compromised.Serial} of {keyId}"),
            () =>
            {
                if (because.Length is < 3 or > 1000)
                {
                    throw new ToolRefusedException("statement-required", "--statement (3-1000 characters) must say why the responder key is compromised");
                }
            });
        if (approval is not { } now)
        {
            Output.WriteLine($"waiting for a second officer: another officer runs ./jpki hsm responder-compromise --key {keyId} within {context.Settings.Accounts.ApprovalWindowMinutes} minutes and types their API token");
            return ResponderCompromiseOutcome.AwaitingApproval;
        }

        var target = now.Request.Payload["responderSerial"]!.GetValue<string>();
        Finish(key, new Compromised(target, now.Request.Payload["hsmKeyLabel"]!.GetValue<string>()), now.Request.RequestedBy, now.ApprovedBy, now.Request.Id);
        return ResponderCompromiseOutcome.Replaced;
    }

    /// <summary>The responder a request names, and its HSM key.</summary>
    private sealed record Compromised(string Serial, string HsmKeyLabel);

    private IssuerKeyRow CheckKey(string keyId)
    {
        using var db = context.Database.OpenConnection();
        var key = IssuerStore.FindKey(db, keyId) ?? throw new ToolRefusedException("unknown-key", $"no issuer key '{keyId}': take the id from ./jpki hsm status");
        if (key.State != "active" || key.CertificateDer is null)
        {
            throw new ToolRefusedException("key-not-active", $"issuer key {keyId} is {key.State}: it signs no responder certificate any more");
        }

        return key;
    }

    private Compromised CurrentResponder(string keyId)
    {
        using var db = context.Database.OpenConnection();
        var current = IssuerStore.FindCurrentResponder(db, keyId)
            ?? throw new ToolRefusedException("no-responder", $"issuer key {keyId} has no good OCSP responder certificate");
        return new Compromised(current.Serial, current.HsmKeyLabel);
    }

    /// <summary>An approved request whose responder certificate is still good or whose key is still in the token: not finished.</summary>
    private Compromised? Unfinished(System.Data.Common.DbConnection db, ApprovalRequest approved)
    {
        var serial = approved.Payload["responderSerial"]?.GetValue<string>();
        var label = approved.Payload["hsmKeyLabel"]?.GetValue<string>();
        if (serial is null || label is null)
        {
            return null;
        }

        return IssuerStore.IsGood(db, serial) || context.Token.HasKey(label) ? new Compromised(serial, label) : null;
    }

    /// <summary>The new responder with the revocation in one transaction, then the old key destroyed.</summary>
    private void Finish(IssuerKeyRow key, Compromised compromised, string requestedBy, string approvedBy, long approval)
    {
        var actor = $"responder-compromise:{requestedBy}+{approvedBy}";
        using var pool = context.Token.CreatePool("ceremony", 1);
        using var checkpointSigner = context.OpenCheckpointSigner(pool);
        var audit = new AuditLog(checkpointSigner, context.Settings.AuditOptions());
        using var issuerSigner = Pkcs11Signer.Open(pool, key.HsmKeyLabel);
        var renewal = new ResponderRenewal(context.Database, context.Token, pool, audit, CeremonySettingsView.From(context.Settings.Ceremony));
        var source = $"responder-compromise:{approval.ToString(CultureInfo.InvariantCulture)}";

        void Revoke(WriteTransaction tx, string? successor)
        {
            if (IssuerStore.RevokeCompromisedResponder(tx, compromised.Serial, source, tx.Time.GetUtcNow()))
            {
                audit.Append(tx, new AuditRecord(actor, RevokedAction, key.Id, new JsonObject
                {
                    ["serial"] = compromised.Serial,
                    ["reason"] = "keyCompromise",
                    ["successor"] = successor,
                    ["approval"] = approval,
                    ["requestedBy"] = requestedBy,
                    ["approvedBy"] = approvedBy,
                }));
            }
        }

        string? replacement = null;
        for (var attempt = 0; attempt < 3 && replacement is null; attempt++)
        {
            ResponderRow? current;
            using (var db = context.Database.OpenConnection())
            {
                current = IssuerStore.FindCurrentResponder(db, key.Id);
            }

            if (current is null || current.Serial != compromised.Serial)
            {
                // Replaced already (an earlier run, or a renewal meanwhile): only the revocation is left, if that.
                AuditedStep.InTransaction(context, (tx, _) => Revoke(tx, current?.Serial));
                replacement = current?.Serial ?? "";
                break;
            }

            replacement = renewal.ReplaceNow(key.Id, key.CertificateDer!, issuerSigner, current, actor, Revoke);
        }

        if (replacement is null)
        {
            throw new InvalidOperationException($"the responder of {key.Id} was renewed concurrently three times; run the command again");
        }

        Output.WriteLine($"new OCSP responder certificate {replacement} of {key.Id}; responder certificate {compromised.Serial} revoked (keyCompromise): the next ARL lists it");
        Destroy(key, compromised, actor, approval);
    }

    private void Destroy(IssuerKeyRow key, Compromised compromised, string actor, long approval)
    {
        var destroyed = context.Token.DestroyPrivateKeys(compromised.HsmKeyLabel);
        AuditedStep.InTransaction(context, (tx, audit) => audit.Append(tx, new AuditRecord(actor, DestroyedAction, key.Id, new JsonObject
        {
            ["serial"] = compromised.Serial,
            ["hsmKeyLabel"] = compromised.HsmKeyLabel,
            ["privateKeyObjectsDestroyed"] = destroyed,
            ["approval"] = approval,
            ["token"] = context.Settings.TokenLabel,
        })));
        Output.WriteLine($"destroyed private key '{compromised.HsmKeyLabel}' ({destroyed} object(s)) in token '{context.Settings.TokenLabel}'");
    }
}
