namespace Jpki.Core.Audit;

/// <summary>One checkpoint-key handover: the checkpoint at <see cref="Seq"/> signed by <see cref="OldKeyId"/> and cosigned by <see cref="NewKeyId"/>.</summary>
internal sealed record CheckpointHandover(long Seq, string OldKeyId, string NewKeyId, CheckpointSource Source, string? Origin);

/// <summary>
/// Which checkpoint key may sign at which record (decision 0421). Without a handover: any trusted
/// key (the pinned one when pinned, else every key the store lists), as before. With handovers
/// H1 &lt; H2 &lt; …: key 0 signs records up to H1, key 1 from after H1 up to H2, and so on; the
/// checkpoint at each Hi is signed by key i−1 and cosigned by key i. Every checkpoint signed by an
/// earlier key after its handover is refused (the old key was declared compromised: whoever holds
/// it may forge), and a pin of any key of that sequence trusts the whole sequence — forwards
/// because the pinned key cosigned its successor in, backwards because its own first checkpoint
/// (the handover it was cosigned in) vouches for the chain up to there.
/// </summary>
internal sealed class CheckpointKeyEpochs
{
    private readonly CheckpointKeyring known;
    private readonly CheckpointKeyring trusted;
    private readonly string? pinned;
    private readonly List<CheckpointHandover> handovers;
    private readonly List<string> sequence;

    private CheckpointKeyEpochs(CheckpointKeyring known, CheckpointKeyring trusted, string? pinned, List<CheckpointHandover> handovers)
    {
        this.known = known;
        this.trusted = trusted;
        this.pinned = pinned;
        this.handovers = handovers;
        sequence = handovers.Count == 0 ? [] : [handovers[0].OldKeyId, .. handovers.Select(h => h.NewKeyId)];
    }

    public IReadOnlyList<CheckpointHandover> Handovers => handovers;

    /// <summary>The newest key of the handover sequence: the one that signs now (null without handovers).</summary>
    public string? CurrentKey => sequence.Count > 0 ? sequence[^1] : null;

    /// <summary>
    /// The epochs the handover checkpoints of every source make (each checked: exactly one
    /// cosignature by another known key, both signatures valid, each handover's old key the
    /// previous one's new key), or the first problem.
    /// </summary>
    /// <param name="known">Every checkpoint key the store and the witness files list, trusted or not.</param>
    /// <param name="trusted">The keys trusted when no handover exists (the pinned key, or all).</param>
    public static (CheckpointKeyEpochs Epochs, AuditVerification? Problem) Build(
        CheckpointKeyring known, CheckpointKeyring trusted, string? pinned, IEnumerable<(AuditCheckpoint Checkpoint, CheckpointSource Source, string? Origin)> handoverCheckpoints)
    {
        var bySeq = new SortedDictionary<long, CheckpointHandover>();
        foreach (var (checkpoint, source, origin) in handoverCheckpoints)
        {
            if (CheckHandover(known, checkpoint, source, origin) is { } bad)
            {
                return (new CheckpointKeyEpochs(known, trusted, pinned, []), bad);
            }

            var handover = new CheckpointHandover(checkpoint.Seq, checkpoint.KeyId, checkpoint.Cosignatures[0].KeyId, source, origin);
            if (bySeq.TryGetValue(checkpoint.Seq, out var seen) && (seen.OldKeyId != handover.OldKeyId || seen.NewKeyId != handover.NewKeyId))
            {
                return (new CheckpointKeyEpochs(known, trusted, pinned, []), Located(AuditProblem.CheckpointSourcesDisagree, checkpoint.Seq, source, origin, $"two handovers of the checkpoint key at record {checkpoint.Seq}: to key {seen.NewKeyId} and to key {handover.NewKeyId}"));
            }

            bySeq.TryAdd(checkpoint.Seq, handover);
        }

        var list = bySeq.Values.ToList();
        var epochs = new CheckpointKeyEpochs(known, trusted, pinned, list);
        for (var i = 1; i < list.Count; i++)
        {
            if (list[i].OldKeyId != list[i - 1].NewKeyId)
            {
                return (epochs, Located(AuditProblem.CheckpointKeyRetired, list[i].Seq, list[i].Source, list[i].Origin, $"the handover at record {list[i].Seq} is signed by key {list[i].OldKeyId}, but the checkpoint key was handed over to key {list[i - 1].NewKeyId} at record {list[i - 1].Seq}: only that key may hand it over again"));
            }
        }

        return (epochs, null);
    }

    /// <summary>The handover at <paramref name="seq"/>, if any.</summary>
    public CheckpointHandover? HandoverAt(long seq) => handovers.FirstOrDefault(h => h.Seq == seq);

    /// <summary>Null when <paramref name="checkpoint"/> is signed by the key that signs at its seq and its signature verifies.</summary>
    public AuditVerification? Check(AuditCheckpoint checkpoint, CheckpointSource source, string? origin)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        var where = source == CheckpointSource.Witness ? $"witness checkpoint {checkpoint.Seq} ({origin})" : $"the checkpoint at {checkpoint.Seq} ({source})";
        if (handovers.Count == 0)
        {
            if (!trusted.Contains(checkpoint.KeyId))
            {
                return Located(AuditProblem.CheckpointUnknownKey, checkpoint.Seq, source, origin, UnknownKeyMessage(checkpoint, source, origin));
            }
        }
        else if (WrongEpoch(checkpoint, source, origin, where) is { } wrong)
        {
            return wrong;
        }

        return known.Verifies(checkpoint.KeyId, checkpoint.Statement(), checkpoint.Signature)
            ? null
            : Located(AuditProblem.CheckpointSignatureInvalid, checkpoint.Seq, source, origin, source == CheckpointSource.Witness
                ? $"{where}: the signature by key {checkpoint.KeyId} does not verify"
                : $"{where} has an invalid signature");
    }

    private AuditVerification? WrongEpoch(AuditCheckpoint checkpoint, CheckpointSource source, string? origin, string where)
    {
        if (pinned is not null && !sequence.Contains(pinned))
        {
            return Located(AuditProblem.CheckpointUnknownKey, checkpoint.Seq, source, origin, UnknownKeyMessage(checkpoint, source, origin));
        }

        var epoch = handovers.Count(h => h.Seq < checkpoint.Seq);
        var expected = sequence[epoch];
        if (checkpoint.KeyId != expected)
        {
            var signer = sequence.IndexOf(checkpoint.KeyId);
            return signer >= 0 && signer < epoch
                ? Located(AuditProblem.CheckpointKeyRetired, checkpoint.Seq, source, origin, $"{where} is signed by key {checkpoint.KeyId}, which was handed over to key {sequence[signer + 1]} at record {handovers[signer].Seq} (declared compromised): after its handover only the new key signs, so this checkpoint is forged")
                : Located(AuditProblem.CheckpointUnknownKey, checkpoint.Seq, source, origin, $"{where} is signed by key {checkpoint.KeyId}, not by key {expected}, the checkpoint key at record {checkpoint.Seq}");
        }

        if (source != CheckpointSource.Witness && HandoverAt(checkpoint.Seq) is { } handover && !checkpoint.IsHandover)
        {
            return Located(AuditProblem.CheckpointHandoverIncomplete, checkpoint.Seq, source, origin, $"{where} is the handover of the checkpoint key to key {handover.NewKeyId} but is signed by the old key only");
        }

        return null;
    }

    private string UnknownKeyMessage(AuditCheckpoint checkpoint, CheckpointSource source, string? origin) => source == CheckpointSource.Witness
        ? $"witness checkpoint {checkpoint.Seq} ({origin}) is signed by key {checkpoint.KeyId}, not by the pinned key {pinned} (nor by a key a checkpoint signed by it introduced)"
        : pinned is not null
            ? $"the checkpoint at {checkpoint.Seq} ({source}) was signed by key {checkpoint.KeyId}, not by the pinned key{(trusted.KeyIds.Count == 0 && handovers.Count == 0 ? " (which neither the store nor a witness file holds)" : "")}"
            : $"the checkpoint at {checkpoint.Seq} was signed by unknown key {checkpoint.KeyId}";

    private static AuditVerification? CheckHandover(CheckpointKeyring known, AuditCheckpoint checkpoint, CheckpointSource source, string? origin)
    {
        var where = source == CheckpointSource.Witness ? $"witness checkpoint {checkpoint.Seq} ({origin})" : $"the handover checkpoint at {checkpoint.Seq} ({source})";
        if (checkpoint.Cosignatures.Count != 1 || checkpoint.Cosignatures[0].KeyId == checkpoint.KeyId)
        {
            return Located(AuditProblem.CheckpointHandoverInvalid, checkpoint.Seq, source, origin, $"{where} must be signed by exactly two different keys, the old and the new, not {checkpoint.Cosignatures.Count + 1} signatures by {string.Join(", ", checkpoint.Cosignatures.Select(c => c.KeyId).Prepend(checkpoint.KeyId).Distinct())}");
        }

        foreach (var (keyId, signature) in checkpoint.Cosignatures.Select(c => (c.KeyId, c.Signature)).Prepend((checkpoint.KeyId, checkpoint.Signature)))
        {
            if (!known.Contains(keyId))
            {
                return Located(AuditProblem.CheckpointUnknownKey, checkpoint.Seq, source, origin, $"{where} is signed by key {keyId}, which neither the store nor a witness file lists");
            }

            if (!known.Verifies(keyId, checkpoint.Statement(), signature))
            {
                return Located(AuditProblem.CheckpointSignatureInvalid, checkpoint.Seq, source, origin, $"{where}: the signature by key {keyId} does not verify");
            }
        }

        return null;
    }

    internal static AuditVerification Located(AuditProblem problem, long seq, CheckpointSource source, string? origin, string message) =>
        AuditVerifier.Problem(problem, seq, message, source) with { Origin = origin };
}
