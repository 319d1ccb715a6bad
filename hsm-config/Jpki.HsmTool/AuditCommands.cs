using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Dapper;
using Jpki.Core;
using Jpki.Core.Audit;
using Jpki.Core.Issuers;
using Jpki.Core.Store;
using Jpki.Hsm;

namespace Jpki.HsmTool;

/// <summary>`./jpki audit verify | checkpoint | export | purge`.</summary>
internal static class AuditCommands
{
    /// <summary>
    /// Checks the checkpoint key certificates (self-signed signature, and recorded by the key
    /// ceremony in the verified chain), then the chain and every checkpoint in the store, the file
    /// and the witness files; with a pinned key, that every checkpoint is signed by it. Exit 0
    /// verified, 1 tampered (the first bad record or the violated checkpoint named), 2 unusable
    /// input (a malformed witness file or key hash).
    /// </summary>
    public static int Verify(ToolContext context, IReadOnlyList<string> witnessPaths, string? keySha256)
    {
        string? pinned;
        List<AuditCheckpointDocument> witness;
        try
        {
            pinned = keySha256 is null ? null : CheckpointKeyPin.Parse(keySha256);
            witness = LoadWitness(witnessPaths);
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }

        if (witness.Count > 0 && pinned is null)
        {
            Console.Error.WriteLine("error: --witness needs --key-sha256: the SHA-256 of the checkpoint key's SubjectPublicKeyInfo from your key ceremony record");
            return 2;
        }

        var certificates = CheckpointCertificates(context);
        if (CheckCertificates(context, certificates) is { } bad)
        {
            return bad;
        }

        var result = AuditVerifier.Verify(context.Database, new AuditVerifyInputs
        {
            CheckpointPublicKeys = certificates.Select(c => CheckpointKeyring.SubjectPublicKeyInfoOf(c.Der)).ToList(),
            CheckpointFiles = [context.Settings.Resolve(context.Settings.Audit.CheckpointFile)],
            Witness = witness,
            PinnedKeySha256 = pinned,
        });
        if (!result.IsValid)
        {
            context.Output.WriteLine($"audit chain FAILED{(result.Seq is { } seq ? $" at record {seq}" : "")}: {result.Problem}: {result.Message}");
            return 1;
        }

        if (CheckCeremonyRecords(context, certificates) is { } unrecorded)
        {
            return unrecorded;
        }

        ReportVerified(context, result, pinned, witness);
        return 0;
    }

    /// <summary>
    /// `audit checkpoint --out FILE`: signs the chain head if a record is not covered yet, then
    /// writes the newest checkpoint as a witness file (the document the witness receives).
    /// </summary>
    public static int Checkpoint(ToolContext context, string outFile)
    {
        using (var pool = context.Token.CreatePool("audit", 1))
        using (var signer = context.OpenCheckpointSigner(pool))
        {
            new AuditLog(signer, context.Settings.AuditOptions()).Checkpoint(context.Database);
        }

        var latest = AuditCheckpointDocument.Latest(context.Database)
            ?? throw new InvalidOperationException("no audit checkpoint has been signed yet: run ./jpki hsm init");
        var path = Path.GetFullPath(outFile);
        var temporary = path + ".tmp";
        File.WriteAllBytes(temporary, latest.ToUtf8Bytes());
        File.Move(temporary, path, overwrite: true);
        context.Output.WriteLine($"checkpoint at record {latest.Seq} ({Instant.FromMicros(latest.TimeUs):u}), hash {latest.Hash}, signed by key {latest.Signatures[0].KeyId}: {path}");
        return 0;
    }

    internal static List<AuditCheckpointDocument> LoadWitness(IReadOnlyList<string> paths) =>
        paths.SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p, "*.json").Order(StringComparer.Ordinal) : (IEnumerable<string>)[p])
            .Select(AuditCheckpointDocument.Load)
            .ToList();

    private static int? CheckCertificates(ToolContext context, List<(string KeyId, byte[] Der)> certificates)
    {
        if (certificates.Count == 0)
        {
            context.Output.WriteLine("no audit-checkpoint key certificate in the store: run ./jpki hsm init first");
            return 1;
        }

        foreach (var (keyId, der) in certificates)
        {
            var certificate = new Org.BouncyCastle.X509.X509Certificate(der);
            try
            {
                certificate.Verify(certificate.GetPublicKey());
            }
            catch (Exception e) when (e is Org.BouncyCastle.Security.GeneralSecurityException or Org.BouncyCastle.Security.InvalidKeyException or Org.BouncyCastle.Crypto.CryptoException)
            {
                context.Output.WriteLine($"audit chain FAILED: the certificate of checkpoint key '{keyId}' is not validly self-signed");
                return 1;
            }
        }

        return null;
    }

    /// <summary>The chain is sound, so its ceremony record is authentic: it must name each certificate.</summary>
    private static int? CheckCeremonyRecords(ToolContext context, List<(string KeyId, byte[] Der)> certificates)
    {
        using var db = context.Database.OpenConnection();
        foreach (var (keyId, der) in certificates)
        {
            var sha256 = Convert.ToHexStringLower(SHA256.HashData(der));
            var recorded = db.Query<string>(
                    "SELECT details FROM audit_log WHERE action = 'ceremony.checkpoint-key.created' AND subject = @keyId AND purged_by IS NULL",
                    new { keyId })
                .Any(d => JsonNode.Parse(d)?["certificateSha256"]?.GetValue<string>() == sha256);
            if (!recorded)
            {
                context.Output.WriteLine($"audit chain FAILED: the certificate of checkpoint key '{keyId}' (SHA-256 {sha256}) is not the one the key ceremony recorded in the audit chain");
                return 1;
            }

            context.Output.WriteLine($"checkpoint key '{keyId}': certificate SHA-256 {sha256} (recorded by the key ceremony)");
            context.Output.WriteLine($"checkpoint key '{keyId}': SubjectPublicKeyInfo SHA-256 {AuditCheckpoint.KeyIdOf(CheckpointKeyring.SubjectPublicKeyInfoOf(der))} (what --key-sha256 pins)");
        }

        return null;
    }

    private static void ReportVerified(ToolContext context, AuditVerification result, string? pinned, List<AuditCheckpointDocument> witness)
    {
        context.Output.WriteLine($"audit chain OK: {result.RecordsChecked} records, {result.CheckpointsChecked} checkpoints verified"
            + (result.Purged > 0 ? $" ({result.Purged} purged under retention)" : ""));
        context.Output.WriteLine(pinned is null
            ? "key not pinned: the checkpoint key is the store's own; pass --key-sha256 with the SubjectPublicKeyInfo SHA-256 of your ceremony record to check it"
            : result.Handovers.Count == 0
                ? $"pinned key {pinned}: every checkpoint is signed by it"
                : $"pinned key {pinned}: every checkpoint is signed by it or by a key linked to it by a handover below");
        foreach (var handover in result.Handovers)
        {
            context.Output.WriteLine($"checkpoint key handed over at record {handover.Seq}: {handover.OldKeyId} -> {handover.NewKeyId} (signed by both); later checkpoints are signed by {handover.NewKeyId} only");
        }

        if (result.Handovers.Count > 0 && pinned is not null && pinned != result.Handovers[^1].NewKeyId)
        {
            context.Output.WriteLine($"re-pin: the checkpoint key now is {result.Handovers[^1].NewKeyId}; record it as your --key-sha256 (docs/runbooks/audit-checkpoint-key-compromise.md)");
        }
        if (witness.Count > 0)
        {
            var newest = witness.MaxBy(d => d.Seq)!;
            context.Output.WriteLine($"witness: the chain extends all {witness.Count} witness checkpoints (newest: record {newest.Seq}, {newest.Origin})");
        }

        if (result.Note is { } note)
        {
            context.Output.WriteLine($"note: {note}");
        }
    }

    public static int Export(ToolContext context, string fromText, string toText, string outDirectory)
    {
        var from = Jst.StartOfDay(ParseDate(fromText, "--from"));
        var to = Jst.StartOfDay(ParseDate(toText, "--to").AddDays(1));
        var certificates = CheckpointCertificates(context);
        var directory = Path.GetFullPath(outDirectory);
        using var pool = context.Token.CreatePool("audit", 1);
        using var signer = context.OpenCheckpointSigner(pool);
        var audit = new AuditLog(signer, context.Settings.AuditOptions());
        // Sign the head now, so that the newest records of the range are covered by a checkpoint.
        audit.Checkpoint(context.Database);
        var result = AuditExporter.Export(context.Database, from, to, directory, certificates.Select(c => c.Der).ToList());
        using (var tx = context.Database.BeginWrite())
        {
            audit.Append(tx, result.Record($"ceremony:{Environment.UserName}", directory, fromText, toText));
            tx.Commit();
        }

        context.Output.WriteLine($"exported records {result.FirstSeq}..{result.LastSeq} ({fromText} to {toText} JST, up to record {result.LastSeqInRange}, then to the covering checkpoint) and {result.Checkpoints} checkpoints to {directory}");
        context.Output.WriteLine($"an outside auditor runs: bash {Path.Combine(directory, "verify.sh")}");
        return 0;
    }

    public static int Purge(ToolContext context, string beforeText, bool dryRun, bool keepRetained)
    {
        var before = Jst.StartOfDay(ParseDate(beforeText, "--before"));
        using var pool = context.Token.CreatePool("audit", 1);
        using var signer = context.OpenCheckpointSigner(pool);
        var audit = new AuditLog(signer, context.Settings.AuditOptions());
        try
        {
            var result = AuditPurger.Purge(context.Database, audit, before, $"ceremony:{Environment.UserName}", dryRun, keepRetained);
            var range = result.FirstSeq is null ? "" : $" (records {result.FirstSeq}..{result.LastSeq})";
            context.Output.WriteLine(dryRun
                ? $"dry run: would purge {result.Records} records older than {beforeText} JST{range}; {result.KeptInsideRetention} issuance records kept inside retention"
                : result.Records == 0
                    ? $"nothing to purge before {beforeText} JST"
                    : $"purged {result.Records} records older than {beforeText} JST{range} as tombstones; audit record {result.PurgeRecordSeq} (digest {result.Digest}); {result.KeptInsideRetention} issuance records kept inside retention");
            return 0;
        }
        catch (AuditRetentionException e)
        {
            Console.Error.WriteLine($"error: retention: {e.Message}");
            return 3;
        }
    }

    private static List<(string KeyId, byte[] Der)> CheckpointCertificates(ToolContext context)
    {
        using var db = context.Database.OpenConnection();
        return IssuerStore.ListInstallKeys(db, "audit-checkpoint")
            .Where(k => k.CertificateDer is not null)
            .Select(k => (k.Id, k.CertificateDer!))
            .ToList();
    }

    private static DateOnly ParseDate(string text, string option) =>
        DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date)
            ? date
            : throw new ArgumentException($"{option} wants a date YYYY-MM-DD (JST), not '{text}'");
}
