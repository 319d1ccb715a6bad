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
/// SubjectPublicKeyInfo SHA-256, brought from the ceremony record), and a key that a checkpoint
/// signed by an already trusted key also signed (a key renewal is a checkpoint signed by both
/// keys), taken in seq order of the witness checkpoints. Every signature a witness file carries
/// must verify, and each witness checkpoint needs one by a trusted key.
/// </summary>
internal static class AuditWitnessTrust
{
    /// <param name="pinnedKeySha256">The pinned key, 64 lowercase hex digits.</param>
    /// <param name="storeKeys">SubjectPublicKeyInfo DER of the checkpoint keys the store lists (trusted only if pinned).</param>
    /// <param name="witness">The witness checkpoints the auditor kept.</param>
    public static (CheckpointKeyring Keys, AuditVerification? Problem) Establish(
        string pinnedKeySha256, IReadOnlyCollection<byte[]> storeKeys, IReadOnlyList<AuditCheckpointDocument> witness)
    {
        var known = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var spki in storeKeys.Concat(witness.SelectMany(d => d.Keys.Select(k => k.SubjectPublicKeyInfo))))
        {
            known.TryAdd(AuditCheckpoint.KeyIdOf(spki), spki);
        }

        // A pinned key the store and the witness files do not hold trusts nothing: then the first
        // checkpoint met is named as signed by another key.
        var trusted = new CheckpointKeyring();
        if (known.TryGetValue(pinnedKeySha256, out var pinned))
        {
            trusted.Add(pinned);
        }

        foreach (var document in witness.OrderBy(d => d.Seq))
        {
            if (Check(document, trusted, pinnedKeySha256) is { } problem)
            {
                return (trusted, problem);
            }

            foreach (var signature in document.Signatures)
            {
                trusted.Add(document.Keys.First(k => k.KeyId == signature.KeyId).SubjectPublicKeyInfo);
            }
        }

        return (trusted, null);
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

    private static AuditVerification? Check(AuditCheckpointDocument document, CheckpointKeyring trusted, string pinned)
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

        return document.Signatures.Any(s => trusted.Contains(s.KeyId))
            ? null
            : Witnessed(AuditProblem.CheckpointUnknownKey, document, $"witness checkpoint {document.Seq} ({document.Origin}) is signed by key {document.Signatures[0].KeyId}, not by the pinned key {pinned} (nor by a key a checkpoint signed by it introduced)");
    }

    internal static AuditVerification Witnessed(AuditProblem problem, AuditCheckpointDocument document, string message) =>
        AuditVerifier.Problem(problem, document.Seq, message, CheckpointSource.Witness) with { Origin = document.Origin };
}
