using System.Data.Common;

namespace Jpki.Core.Audit;

/// <summary>
/// Every signed checkpoint a verification knows of — the checkpoint file(s), the database and the
/// witness files the auditor kept — each signature checked against the key that signs at its seq
/// (<see cref="CheckpointKeyEpochs"/>), and the
/// sources compared where they overlap. <see cref="Vouches"/> is what the chain must reproduce.
/// </summary>
internal sealed class AuditCheckpointSources(CheckpointKeyEpochs epochs)
{
    public Dictionary<long, AuditCheckpoint> File { get; } = [];

    public Dictionary<long, AuditCheckpoint> Database { get; } = [];

    /// <summary>By seq: the hash some checkpoint vouches for there (database first, then file, then witness).</summary>
    public SortedDictionary<long, CheckpointVouch> Vouches { get; } = [];

    public AuditVerification? ReadFiles(IReadOnlyCollection<string> checkpointFiles)
    {
        foreach (var path in checkpointFiles)
        {
            var (checkpoints, malformed) = new AuditCheckpointFile(path).ReadAll();
            if (malformed.Count > 0)
            {
                return AuditVerifier.Problem(AuditProblem.CheckpointFileMalformed, null, $"{path} line {malformed[0]} is not a checkpoint", CheckpointSource.File);
            }

            foreach (var checkpoint in checkpoints)
            {
                if (CheckSignature(checkpoint, CheckpointSource.File) is { } bad)
                {
                    return bad;
                }

                if (File.TryGetValue(checkpoint.Seq, out var seen) && !seen.SameAs(checkpoint))
                {
                    return AuditVerifier.Problem(AuditProblem.CheckpointSourcesDisagree, checkpoint.Seq, $"checkpoint files hold two different checkpoints for seq {checkpoint.Seq}", CheckpointSource.File);
                }

                File[checkpoint.Seq] = checkpoint;
            }
        }

        return null;
    }

    public AuditVerification? ReadDatabase(DbConnection connection, DbTransaction snapshot)
    {
        foreach (var checkpoint in AuditCheckpointStore.All(connection, snapshot))
        {
            if (CheckSignature(checkpoint, CheckpointSource.Database) is { } bad)
            {
                return bad;
            }

            if (File.TryGetValue(checkpoint.Seq, out var inFile) && !inFile.SameAs(checkpoint))
            {
                return AuditVerifier.Problem(AuditProblem.CheckpointSourcesDisagree, checkpoint.Seq, $"the database and the checkpoint file differ at seq {checkpoint.Seq}", CheckpointSource.Database);
            }

            Database[checkpoint.Seq] = checkpoint;
        }

        foreach (var (seq, checkpoint) in Database.Concat(File))
        {
            Vouches.TryAdd(seq, new CheckpointVouch(seq, checkpoint.Hash, Database.ContainsKey(seq) ? CheckpointSource.Database : CheckpointSource.File, null));
        }

        return null;
    }

    /// <summary>
    /// Adds the witness checkpoints (signatures already checked by <see cref="AuditWitnessTrust"/>);
    /// one the store or file also holds must vouch for the same hash there.
    /// </summary>
    public AuditVerification? AddWitness(IReadOnlyList<AuditCheckpointDocument> witness)
    {
        foreach (var document in witness.OrderBy(d => d.Seq))
        {
            if (Vouches.TryGetValue(document.Seq, out var held) && !string.Equals(held.Hash, document.Hash, StringComparison.Ordinal))
            {
                return AuditWitnessTrust.Witnessed(
                    AuditProblem.CheckpointSourcesDisagree,
                    document,
                    $"witness checkpoint {document.Seq} ({document.Origin}) signed another hash for record {document.Seq} than the {(held.Source == CheckpointSource.Database ? "store's" : "checkpoint file's")} checkpoint: the chain was rewritten and its checkpoints signed again");
            }

            Vouches.TryAdd(document.Seq, new CheckpointVouch(document.Seq, document.Hash, CheckpointSource.Witness, document.Origin));
        }

        return null;
    }

    private AuditVerification? CheckSignature(AuditCheckpoint checkpoint, CheckpointSource source) => epochs.Check(checkpoint, source, null);
}
