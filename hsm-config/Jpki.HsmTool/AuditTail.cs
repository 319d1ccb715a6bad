using Jpki.Core.Audit;
using Jpki.Hsm;

namespace Jpki.HsmTool;

/// <summary>
/// What every verb that writes does before the tool exits: sign the chain head if a record is not
/// covered yet (a short-lived process has no tail timer), and push the checkpoints it made to the
/// witness. A failed push is a warning, not a failed verb: the CA and the CRL publisher push every
/// checkpoint of the store they have not pushed, as soon as the witness answers again.
/// </summary>
internal static class AuditTail
{
    /// <summary>The newest checkpoint's seq now (0 when none): what the witness push starts after.</summary>
    public static long NewestCheckpoint(ToolContext context)
    {
        using var db = context.Database.OpenConnection();
        return AuditCheckpointStore.Latest(db)?.Seq ?? 0;
    }

    public static void Close(ToolContext context, long checkpointBefore)
    {
        if (!AuditLog.IsHeadCheckpointed(context.Database))
        {
            using var pool = context.Token.CreatePool("audit-tail", 1);
            using var signer = context.OpenCheckpointSigner(pool);
            new AuditLog(signer, context.Settings.AuditOptions()).Checkpoint(context.Database);
        }

        Push(context, checkpointBefore);
    }

    private static void Push(ToolContext context, long after)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        if (AuditWitnesses.For(context.Settings.AuditOptions().Witness, http) is not { } witness)
        {
            return;
        }

        using var pusher = new AuditWitnessPusher(witness, context.Database, context.Loggers.CreateLogger("Jpki.Audit.Witness"));
        try
        {
            var witnessed = pusher.PushAfterAsync(after, CancellationToken.None).GetAwaiter().GetResult();
            if (witnessed > after)
            {
                context.Output.WriteLine($"witness: {witness.Description} holds the checkpoints through record {witnessed}");
            }
        }
        catch (AuditWitnessPushException e)
        {
            Console.Error.WriteLine($"warning: witness: {e.Message}; the CA and the CRL publisher push it again when the witness answers");
        }
    }
}
