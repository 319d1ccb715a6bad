using Jpki.Core.Store;

namespace Jpki.Core.Audit;

/// <summary>
/// The tombstones met on the walk, grouped by the purge that made them, and the
/// 'audit.purged' records (hash-verified like any record) that must account for them.
/// </summary>
internal sealed class AuditPurgeLedger
{
    private readonly SortedDictionary<long, (long Count, long NewestUs, System.Security.Cryptography.IncrementalHash Digest)> groups = [];
    private readonly Dictionary<long, (long TimeUs, long Count, string Digest, long BeforeUs)> records = [];

    public long Tombstones { get; private set; }

    public void AddTombstone(long purgedBy, long seq, long timeUs, string hash)
    {
        if (!groups.TryGetValue(purgedBy, out var group))
        {
            group = (0, long.MinValue, System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256));
        }

        group.Digest.AppendData(AuditRetention.TombstoneLine(seq, hash));
        groups[purgedBy] = (group.Count + 1, Math.Max(group.NewestUs, timeUs), group.Digest);
        Tombstones++;
    }

    public void AddPurgeRecord(long seq, long timeUs, string canonicalDetails)
    {
        var details = System.Text.Json.Nodes.JsonNode.Parse(canonicalDetails);
        records[seq] = (
            timeUs,
            details?["records"]?.GetValue<long>() ?? -1,
            details?["digest"]?.GetValue<string>() ?? "",
            details?["beforeUs"]?.GetValue<long>() ?? long.MinValue);
    }

    public AuditVerification? Check()
    {
        foreach (var (purgedBy, group) in groups)
        {
            var digest = Convert.ToHexStringLower(group.Digest.GetHashAndReset());
            var found = records.TryGetValue(purgedBy, out var record);
            if (!found || record.Count != group.Count || !string.Equals(record.Digest, digest, StringComparison.Ordinal))
            {
                return AuditVerifier.Problem(AuditProblem.PurgeNotAudited, purgedBy, !found
                    ? $"{group.Count} records are blanked as purged by record {purgedBy}, which is not an 'audit.purged' record"
                    : $"the purge record {purgedBy} accounts for {record.Count} records, but {group.Count} are blanked under its name (or their hashes differ): a record was blanked outside the purge");
            }

            if (record.BeforeUs > Instant.ToMicros(AuditRetention.LogCutoff(Instant.FromMicros(record.TimeUs))) || group.NewestUs >= record.BeforeUs)
            {
                return AuditVerifier.Problem(AuditProblem.PurgeInsideRetention, purgedBy, $"the purge record {purgedBy} blanked records less than {AuditRetention.LogYears} years old");
            }
        }

        return null;
    }
}
