using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Hsm;

namespace Jpki.HsmTool;

/// <summary>Writes one audit record for a ceremony step that changes no other row (backup, restore).</summary>
internal static class AuditedStep
{
    public static void Record(ToolContext context, string action, string subject, JsonObject details)
    {
        using var pool = context.Token.CreatePool("ceremony", 1);
        using var signer = Pkcs11Signer.Open(pool, KeyCeremony.CheckpointKeyId);
        var audit = new AuditLog(signer, context.Settings.AuditOptions());
        using var tx = context.Database.BeginWrite();
        audit.Append(tx, new AuditRecord($"ceremony:{Environment.UserName}", action, subject, details));
        tx.Commit();
    }
}
