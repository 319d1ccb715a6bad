using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Jpki.Hsm;

namespace Jpki.HsmTool;

/// <summary>Audit records of ceremony steps, in a write transaction with what the step changes.</summary>
internal static class AuditedStep
{
    /// <summary>Runs <paramref name="step"/> in one write transaction with the audit log (checkpoint key in the HSM); commits if it returns.</summary>
    public static void InTransaction(ToolContext context, Action<WriteTransaction, AuditLog> step)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(step);
        using var pool = context.Token.CreatePool("ceremony", 1);
        using var signer = context.OpenCheckpointSigner(pool);
        var audit = new AuditLog(signer, context.Settings.AuditOptions());
        using var tx = context.Database.BeginWrite();
        step(tx, audit);
        tx.Commit();
    }

    /// <summary>One audit record for a step that changes no other row (backup, restore).</summary>
    public static void Record(ToolContext context, string action, string subject, JsonObject details)
    {
        using var pool = context.Token.CreatePool("ceremony", 1);
        using var signer = context.OpenCheckpointSigner(pool);
        var audit = new AuditLog(signer, context.Settings.AuditOptions());
        using var tx = context.Database.BeginWrite();
        audit.Append(tx, new AuditRecord($"ceremony:{Environment.UserName}", action, subject, details));
        tx.Commit();
    }
}
