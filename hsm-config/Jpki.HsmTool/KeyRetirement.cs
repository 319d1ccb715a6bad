using System.Globalization;
using System.Text.Json.Nodes;
using Jpki.Core;
using Jpki.Core.Accounts;
using Jpki.Core.Issuers;
using Jpki.Core.Store;
using Org.BouncyCastle.X509;

namespace Jpki.HsmTool;

/// <summary>A retirement refused before anything changed; <see cref="Code"/> is what the officers read.</summary>
public sealed class RetirementRefusedException(string code, string message) : ToolRefusedException(code, message);

/// <summary>What one run of <c>./jpki hsm retire</c> did.</summary>
public enum RetirementOutcome
{
    /// <summary>The private keys are destroyed and the key is retired (now, or by an earlier run).</summary>
    Retired,

    /// <summary>One officer's request is recorded; a second officer must approve it.</summary>
    AwaitingApproval,
}

/// <summary>
/// <c>./jpki hsm retire --key ID</c>: the last act of a key generation (docs/rollover.md, end of a
/// generation). Only after the generation's root has expired — until then its NewWithOld link
/// and its ARL are relied on — its private keys (the issuer key and every delegated OCSP
/// responder key it had) are destroyed in the HSM, on one officer's request and a second,
/// different officer's approval under the dual-control rules of the CA API
/// (<see cref="ApprovalRules"/>, request window <c>accounts.approvalWindowMinutes</c>). Officers
/// prove who they are with their API tokens, one a line on standard input, never as arguments.
/// Three audited state changes, each in its own transaction: <c>approval.requested</c>,
/// <c>approval.approved</c>, then (after C_DestroyObject) <c>issuer-key.destroyed</c> with the
/// key marked retired. The certificates, CRLs, files and the audit trail stay. An approved
/// retirement cut off before its last step finishes when the command runs again.
/// </summary>
internal sealed class KeyRetirement(ToolContext context, TextReader input)
{
    public const string DestroyedAction = "issuer-key.destroyed";

    private TextWriter Output => context.Output;

    /// <exception cref="RetirementRefusedException">Refused; nothing changed.</exception>
    public RetirementOutcome Run(string keyId)
    {
        var key = Check(keyId);
        if (key.State == "retired")
        {
            Output.WriteLine($"nothing to do: issuer key {keyId} is retired; its private keys were destroyed");
            return RetirementOutcome.Retired;
        }

        using (var db = context.Database.OpenConnection())
        {
            if (ApprovalStore.LatestApproved(db, ApprovalAction.IssuerKeyRetire, keyId) is { } approved)
            {
                Output.WriteLine($"resuming the retirement of {keyId} approved by {approved.DecidedBy} (request {approved.Id})");
                Destroy(key, approved.RequestedBy, approved.DecidedBy!, approved.Id);
                return RetirementOutcome.Retired;
            }
        }

        var approval = new OfficerApproval(context, input, ApprovalAction.IssuerKeyRetire).Run(
            key.Id,
            new JsonObject { ["generation"] = key.Generation, ["hsmKeyLabel"] = key.HsmKeyLabel },
            new OfficerApproval.Wording($"the retirement of {key.Id}", $"to retire {key.Id}"));
        if (approval is { } approvedNow)
        {
            Destroy(key, approvedNow.Request.RequestedBy, approvedNow.ApprovedBy, approvedNow.Request.Id);
            return RetirementOutcome.Retired;
        }

        Output.WriteLine($"waiting for a second officer: another officer runs ./jpki hsm retire --key {keyId} within {context.Settings.Accounts.ApprovalWindowMinutes} minutes and types their API token");
        return RetirementOutcome.AwaitingApproval;
    }

    /// <summary>The key, if it exists and its root has expired.</summary>
    private IssuerKeyRow Check(string keyId)
    {
        using var db = context.Database.OpenConnection();
        var key = IssuerStore.FindKey(db, keyId) ?? throw new RetirementRefusedException("unknown-key", $"no issuer key '{keyId}': take the id from ./jpki hsm status");
        if (key.State == "retired")
        {
            return key;
        }

        var notAfter = key.CertificateDer is { } der
            ? new DateTimeOffset(new X509Certificate(der).NotAfter, TimeSpan.Zero)
            : Instant.FromMicros(key.NotAfterUs);
        if (context.Database.Time.GetUtcNow() < notAfter)
        {
            throw new RetirementRefusedException("root-unexpired", $"the root of {keyId} is valid until {Show(notAfter)}: its link certificate and ARL are relied on until then; retire it after that");
        }

        return key;
    }

    /// <summary>C_DestroyObject on the generation's private keys, then the key marked retired with its audit record.</summary>
    private void Destroy(IssuerKeyRow key, string requestedBy, string approvedBy, long approval)
    {
        IReadOnlyList<string> labels;
        using (var db = context.Database.OpenConnection())
        {
            labels = [key.HsmKeyLabel, .. IssuerStore.ResponderKeyLabels(db, key.Id)];
        }

        var destroyed = new JsonObject();
        foreach (var label in labels)
        {
            destroyed[label] = context.Token.DestroyPrivateKeys(label);
        }

        AuditedStep.InTransaction(context, (tx, audit) =>
        {
            IssuerStore.MarkRetired(tx, key.Id);
            audit.Append(tx, new Jpki.Core.Audit.AuditRecord($"retire:{requestedBy}+{approvedBy}", DestroyedAction, key.Id, new JsonObject
            {
                ["approval"] = approval,
                ["requestedBy"] = requestedBy,
                ["approvedBy"] = approvedBy,
                ["generation"] = key.Generation,
                ["rootNotAfterUs"] = key.NotAfterUs,
                ["privateKeyObjectsDestroyed"] = destroyed,
                ["token"] = context.Settings.TokenLabel,
            }));
        });
        foreach (var label in labels)
        {
            Output.WriteLine($"destroyed private key '{label}' ({destroyed[label]} object(s)) in token '{context.Settings.TokenLabel}'");
        }

        Output.WriteLine($"issuer key {key.Id} is retired: its certificates, CRLs and audit trail stay");
    }

    private static string Show(DateTimeOffset time) =>
        Jst.ToJst(time).ToString("yyyy-MM-dd HH:mm:ss 'JST'", CultureInfo.InvariantCulture);
}
