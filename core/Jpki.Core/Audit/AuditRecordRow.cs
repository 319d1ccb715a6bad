namespace Jpki.Core.Audit;

/// <summary>
/// One stored record of the audit log as read back for people (the console's kill-switch history)
/// and for the export, which adds the chain links. Details are the record's canonical JSON.
/// </summary>
public class AuditRecordRow
{
    /// <summary>The select list that fills this type from <c>audit_log</c>.</summary>
    public const string Columns = "seq AS Seq, time_us AS TimeUs, actor AS Actor, action AS Action, subject AS Subject, details AS Details";

    public long Seq { get; set; }

    public long TimeUs { get; set; }

    public string Actor { get; set; } = "";

    public string Action { get; set; } = "";

    public string Subject { get; set; } = "";

    /// <summary>The record's details (canonical JSON): for a kill switch, the reason, and for a release who requested and who approved.</summary>
    public string Details { get; set; } = "";
}
