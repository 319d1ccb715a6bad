using System.Data.Common;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.Core.Issuers;

/// <summary>
/// The SQL of issuer key rollovers (migration 0018, table issuer_rollovers): one row per new
/// generation, 'in-progress' until the switch of issuance is recorded, with the last step done.
/// </summary>
public static class IssuerRolloverStore
{
    private const string Columns =
        "to_key_id AS ToKeyId, issuer_id AS IssuerId, from_key_id AS FromKeyId, generation AS Generation, state AS State, step AS Step, switch_at_us AS SwitchAtUs, actor AS Actor, started_us AS StartedUs, completed_us AS CompletedUs";

    /// <summary>The rollover of <paramref name="issuerId"/> that is half done, if any (at most one: a partial unique index).</summary>
    public static IssuerRolloverRow? FindOpen(DbConnection db, string issuerId, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<IssuerRolloverRow>($"SELECT {Columns} FROM issuer_rollovers WHERE issuer_id = @issuerId AND state = 'in-progress'", new { issuerId }, tx);

    /// <summary>The newest rollover of <paramref name="issuerId"/>, done or not.</summary>
    public static IssuerRolloverRow? FindLatest(DbConnection db, string issuerId, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<IssuerRolloverRow>($"SELECT {Columns} FROM issuer_rollovers WHERE issuer_id = @issuerId ORDER BY generation DESC LIMIT 1", new { issuerId }, tx);

    public static IReadOnlyList<IssuerRolloverRow> List(DbConnection db, string issuerId) =>
        db.Query<IssuerRolloverRow>($"SELECT {Columns} FROM issuer_rollovers WHERE issuer_id = @issuerId ORDER BY generation", new { issuerId }).AsList();

    public static void Insert(WriteTransaction tx, IssuerRolloverRow row) =>
        tx.Execute(
            """
            INSERT INTO issuer_rollovers (to_key_id, issuer_id, from_key_id, generation, state, step, switch_at_us, actor, started_us, completed_us)
            VALUES (@ToKeyId, @IssuerId, @FromKeyId, @Generation, 'in-progress', @Step, @SwitchAtUs, @Actor, @StartedUs, NULL)
            """,
            row);

    /// <summary>Records the last step done of a rollover in progress.</summary>
    public static void SetStep(WriteTransaction tx, string toKeyId, string step) =>
        tx.Execute("UPDATE issuer_rollovers SET step = @step WHERE to_key_id = @toKeyId AND state = 'in-progress'", new { toKeyId, step });

    /// <summary>A new switch time for a rollover in progress (an officer's <c>--resume</c> with another <c>--at</c>).</summary>
    public static void Reschedule(WriteTransaction tx, string toKeyId, long switchAtUs) =>
        tx.Execute("UPDATE issuer_rollovers SET switch_at_us = @switchAtUs WHERE to_key_id = @toKeyId AND state = 'in-progress'", new { toKeyId, switchAtUs });

    public static void Complete(WriteTransaction tx, string toKeyId, long completedUs) =>
        tx.Execute("UPDATE issuer_rollovers SET state = 'complete', step = 'switch', completed_us = @completedUs WHERE to_key_id = @toKeyId AND state = 'in-progress'", new { toKeyId, completedUs });
}

public sealed class IssuerRolloverRow
{
    public string ToKeyId { get; set; } = "";

    public string IssuerId { get; set; } = "";

    public string FromKeyId { get; set; } = "";

    public int Generation { get; set; }

    public string State { get; set; } = "in-progress";

    /// <summary>The last step done: started, key, root, published, links, responder, switch.</summary>
    public string Step { get; set; } = "started";

    public long? SwitchAtUs { get; set; }

    public string Actor { get; set; } = "";

    public long StartedUs { get; set; }

    public long? CompletedUs { get; set; }
}
