namespace Jpki.Core.Audit;

/// <summary>A hash some signed checkpoint vouches for at <see cref="Seq"/>, and who signed it where.</summary>
internal sealed record CheckpointVouch(long Seq, string Hash, CheckpointSource Source, string? Origin)
{
    public string Describe() => Source == CheckpointSource.Witness
        ? $"witness checkpoint {Seq} ({Origin})"
        : $"the checkpoint at {Seq}";
}

/// <summary>
/// Which checkpoint keys a verification trusts when the auditor pins one: the pinned key (its
/// SubjectPublicKeyInfo SHA-256, brought from the ceremony record), and the keys a handover
/// (a checkpoint signed by the old and the new key) links to it (<see cref="CheckpointKeyEpochs"/>).
/// Every signature a witness file carries must verify, and each witness checkpoint must be signed
/// by the key that signs at its seq.
/// </summary>
internal static class AuditWitnessTrust
{
    /// <summary>Every key the store and the witness files list (trusted or not), and the keys trusted before any handover.</summary>
    /// <param name="pinnedKeySha256">The pinned key, 64 lowercase hex digits.</param>
    /// <param name="storeKeys">SubjectPublicKeyInfo DER of the checkpoint keys the store lists (trusted only if pinned).</param>
    /// <param name="witness">The witness checkpoints the auditor kept.</param>
    public static (CheckpointKeyring Known, CheckpointKeyring Trusted) Keys(
        string pinnedKeySha256, IReadOnlyCollection<byte[]> storeKeys, IReadOnlyList<AuditCheckpointDocument> witness)
    {
        var known = new CheckpointKeyring();
        var spkis = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var spki in storeKeys.Concat(witness.SelectMany(d => d.Keys.Select(k => k.SubjectPublicKeyInfo))))
        {
            spkis.TryAdd(known.Add(spki), spki);
        }

        // A pinned key the store and the witness files do not hold trusts nothing: then the first
        // checkpoint met is named as signed by another key.
        var trusted = new CheckpointKeyring();
        if (spkis.TryGetValue(pinnedKeySha256, out var pinned))
        {
            trusted.Add(pinned);
        }

        return (known, trusted);
    }

    /// <summary>Each witness file's signatures verify by its own listed keys, and its checkpoint is signed by the key that signs at its seq.</summary>
    public static AuditVerification? Check(IReadOnlyList<AuditCheckpointDocument> witness, CheckpointKeyEpochs epochs)
    {
        foreach (var document in witness.OrderBy(d => d.Seq))
        {
            if ((SelfConsistent(document) ?? epochs.Check(document.StoredCheckpoint, CheckpointSource.Witness, document.Origin)) is { } problem)
            {
                return problem;
            }
        }

        return null;
    }

    /// <summary>Two witness files that sign different hashes for one seq: the key signed two histories.</summary>
    public static AuditVerification? Fork(IReadOnlyList<AuditCheckpointDocument> witness)
    {
        foreach (var group in witness.GroupBy(d => d.Seq).Where(g => g.Select(d => d.Hash).Distinct(StringComparer.Ordinal).Count() > 1))
        {
            var two = group.DistinctBy(d => d.Hash).Take(2).ToList();
            return Witnessed(AuditProblem.CheckpointSourcesDisagree, two[0], $"witness files {two[0].Origin} and {two[1].Origin} hold signed checkpoints with different hashes for record {group.Key}: the checkpoint key signed two histories");
        }

        return null;
    }

    private static AuditVerification? SelfConsistent(AuditCheckpointDocument document)
    {
        var statement = document.Statement();
        foreach (var signature in document.Signatures)
        {
            var own = new CheckpointKeyring();
            own.Add(document.Keys.First(k => k.KeyId == signature.KeyId).SubjectPublicKeyInfo);
            if (!own.Verifies(signature.KeyId, statement, signature.Signature))
            {
                return Witnessed(AuditProblem.CheckpointSignatureInvalid, document, $"witness checkpoint {document.Seq} ({document.Origin}): the signature by key {signature.KeyId} does not verify");
            }
        }

        return null;
    }

    internal static AuditVerification Witnessed(AuditProblem problem, AuditCheckpointDocument document, string message) =>
        AuditVerifier.Problem(problem, document.Seq, message, CheckpointSource.Witness) with { Origin = document.Origin };
}
