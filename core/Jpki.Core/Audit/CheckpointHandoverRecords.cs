using System.Text.Json.Nodes;

namespace Jpki.Core.Audit;

/// <summary>
/// What the chain itself says about checkpoint keys, gathered during the walk: which key each
/// <c>ceremony.checkpoint-key.created</c> record certified, and which key each
/// <c>audit.checkpoint-key.handover</c> record handed over to which. After the walk, every
/// handover record must have its checkpoint signed by both keys, and every dual-signed checkpoint
/// must sit on a handover record whose new key the ceremony certified at or before it: a pair of
/// signatures alone (e.g. the stolen old key cosigning a key of the thief's) hands nothing over.
/// </summary>
internal sealed class CheckpointHandoverRecords
{
    private readonly Dictionary<string, long> certified = new(StringComparer.Ordinal);
    private readonly SortedDictionary<long, (string OldKeyId, string NewKeyId)> handovers = [];

    /// <summary>Notes <paramref name="action"/>'s record when it is one of the two this checks.</summary>
    public void Add(long seq, string action, string details)
    {
        if (string.Equals(action, AuditLog.CheckpointKeyCreatedAction, StringComparison.Ordinal))
        {
            if (JsonNode.Parse(details)?["publicKeyId"]?.GetValue<string>() is { } keyId)
            {
                certified.TryAdd(keyId, seq);
            }
        }
        else if (string.Equals(action, AuditLog.CheckpointKeyHandoverAction, StringComparison.Ordinal))
        {
            var parsed = JsonNode.Parse(details);
            handovers[seq] = (parsed?["oldPublicKeyId"]?.GetValue<string>() ?? "", parsed?["newPublicKeyId"]?.GetValue<string>() ?? "");
        }
    }

    public AuditVerification? Check(CheckpointKeyEpochs epochs, long lastSeq)
    {
        foreach (var (seq, (oldKeyId, newKeyId)) in handovers)
        {
            var signed = epochs.HandoverAt(seq);
            if (signed is null)
            {
                return AuditVerifier.Problem(AuditProblem.CheckpointHandoverIncomplete, seq, $"record {seq} hands the checkpoint key over from key {oldKeyId} to key {newKeyId}, but no checkpoint at record {seq} is signed by both keys");
            }

            if (signed.OldKeyId != oldKeyId || signed.NewKeyId != newKeyId)
            {
                return CheckpointKeyEpochs.Located(AuditProblem.CheckpointHandoverInvalid, seq, signed.Source, signed.Origin, $"record {seq} hands the checkpoint key over from key {oldKeyId} to key {newKeyId}, but its checkpoint is signed by keys {signed.OldKeyId} and {signed.NewKeyId}");
            }
        }

        foreach (var handover in epochs.Handovers.Where(h => h.Seq <= lastSeq))
        {
            if (!handovers.ContainsKey(handover.Seq))
            {
                return CheckpointKeyEpochs.Located(AuditProblem.CheckpointHandoverInvalid, handover.Seq, handover.Source, handover.Origin, $"the checkpoint at {handover.Seq} is signed by two keys ({handover.OldKeyId} and {handover.NewKeyId}), but record {handover.Seq} is no {AuditLog.CheckpointKeyHandoverAction} record");
            }

            if (!certified.TryGetValue(handover.NewKeyId, out var at) || at > handover.Seq)
            {
                return CheckpointKeyEpochs.Located(AuditProblem.CheckpointHandoverUncertified, handover.Seq, handover.Source, handover.Origin, $"the checkpoint key is handed over at record {handover.Seq} to key {handover.NewKeyId}, which no {AuditLog.CheckpointKeyCreatedAction} record up to there certifies: not a key of the CA's key ceremony");
            }
        }

        return null;
    }
}
