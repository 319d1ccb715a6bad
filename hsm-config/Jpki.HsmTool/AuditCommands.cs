using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Dapper;
using Jpki.Core;
using Jpki.Core.Audit;
using Jpki.Core.Issuers;
using Jpki.Hsm;

namespace Jpki.HsmTool;

/// <summary>`./jpki audit verify | export | purge`.</summary>
internal static class AuditCommands
{
    /// <summary>
    /// Checks the checkpoint key certificates (self-signed signature, and recorded by the key
    /// ceremony in the verified chain), then the chain and every checkpoint in the store and the file.
    /// </summary>
    public static int Verify(ToolContext context)
    {
        var settings = context.Settings;
        var certificates = CheckpointCertificates(context);
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

        var result = AuditVerifier.Verify(
            context.Database,
            certificates.Select(c => new Org.BouncyCastle.X509.X509Certificate(c.Der).CertificateStructure.SubjectPublicKeyInfo.GetDerEncoded()).ToList(),
            [settings.Resolve(settings.Audit.CheckpointFile)]);
        if (!result.IsValid)
        {
            context.Output.WriteLine($"audit chain FAILED at record {result.Seq}: {result.Problem}: {result.Message}");
            return 1;
        }

        // The chain is sound, so its ceremony record is authentic: it must name each certificate.
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
        }

        context.Output.WriteLine($"audit chain OK: {result.RecordsChecked} records, {result.CheckpointsChecked} checkpoints verified"
            + (result.Purged > 0 ? $" ({result.Purged} purged under retention)" : ""));
        if (result.Note is { } note)
        {
            context.Output.WriteLine($"note: {note}");
        }

        return 0;
    }

    public static int Export(ToolContext context, string fromText, string toText, string outDirectory)
    {
        var from = Jst.StartOfDay(ParseDate(fromText, "--from"));
        var to = Jst.StartOfDay(ParseDate(toText, "--to").AddDays(1));
        var certificates = CheckpointCertificates(context);
        var directory = Path.GetFullPath(outDirectory);
        using var pool = context.Token.CreatePool("audit", 1);
        using var signer = Pkcs11Signer.Open(pool, KeyCeremony.CheckpointKeyId);
        var audit = new AuditLog(signer, context.Settings.AuditOptions());
        // Sign the head now, so that the newest records of the range are covered by a checkpoint.
        audit.Checkpoint(context.Database);
        var result = AuditExporter.Export(context.Database, from, to, directory, certificates.Select(c => c.Der).ToList());
        using (var tx = context.Database.BeginWrite())
        {
            audit.Append(tx, new AuditRecord($"ceremony:{Environment.UserName}", "audit.exported", directory, new JsonObject
            {
                ["from"] = fromText,
                ["to"] = toText,
                ["firstSeq"] = result.FirstSeq,
                ["lastSeq"] = result.LastSeq,
                ["checkpoints"] = result.Checkpoints,
            }));
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
        using var signer = Pkcs11Signer.Open(pool, KeyCeremony.CheckpointKeyId);
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
