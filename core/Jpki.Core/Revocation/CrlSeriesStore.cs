using System.Data.Common;
using Dapper;

namespace Jpki.Core.Revocation;

/// <summary>One CRL series (issuer key, scope) as officers see it: its last cRLNumber and its newest published CRL's times.</summary>
public sealed class CrlSeriesRow
{
    public string IssuerKeyId { get; set; } = "";

    /// <summary><c>full</c>, <c>arl</c> or <c>m/&lt;municipality code&gt;</c>.</summary>
    public string Scope { get; set; } = "";

    /// <summary>The last number handed out (a failed build leaves a gap, so it may be above the newest published one).</summary>
    public long LastNumber { get; set; }

    public long? LastThisUpdateUs { get; set; }

    public long? LastNextUpdateUs { get; set; }
}

/// <summary>
/// The read side of <c>crl_series</c> for the CA's officer console. The publisher reserves and
/// archives numbers with its own store (crl-publisher's <c>CrlStore</c>); this only lists them,
/// so the CA needs no reference to a service.
/// </summary>
public static class CrlSeriesStore
{
    public static IReadOnlyList<CrlSeriesRow> List(DbConnection db) =>
        db.Query<CrlSeriesRow>(
            """
            SELECT s.issuer_key_id AS IssuerKeyId, s.scope AS Scope, s.last_number AS LastNumber,
                   (SELECT MAX(c.this_update_us) FROM crls c WHERE c.issuer_key_id = s.issuer_key_id AND c.scope = s.scope) AS LastThisUpdateUs,
                   (SELECT MAX(c.next_update_us) FROM crls c WHERE c.issuer_key_id = s.issuer_key_id AND c.scope = s.scope) AS LastNextUpdateUs
            FROM crl_series s
            ORDER BY s.issuer_key_id, s.scope
            """).AsList();
}
