using System.Data.Common;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.Core.Certificates;

/// <summary>An end-entity certificate as stored at issuance.</summary>
public sealed record EndEntityCertificateRow
{
    public required string Serial { get; init; }

    public required string IssuerKeyId { get; init; }

    /// <summary><c>signing</c> or <c>authentication</c>.</summary>
    public required string Kind { get; init; }

    public required string MunicipalityCode { get; init; }

    /// <summary>HMAC-SHA256 of the resident code under <see cref="HmacKeyId"/>; never the code.</summary>
    public required byte[] ResidentKey { get; init; }

    public required string HmacKeyId { get; init; }

    public required long JukiSequence { get; init; }

    public required long NotBeforeUs { get; init; }

    public required long NotAfterUs { get; init; }

    public required byte[] Der { get; init; }

    public required byte[] CrlDpDer { get; init; }

    public required string SpkiSha256 { get; init; }

    public required long CreatedUs { get; init; }
}

/// <summary>What the API tells about a certificate.</summary>
public sealed class CertificateStatusRow
{
    public string Serial { get; set; } = "";

    public string IssuerId { get; set; } = "";

    public string IssuerKeyId { get; set; } = "";

    public string Kind { get; set; } = "";

    public string Status { get; set; } = "";

    public long NotAfterUs { get; set; }

    public long? RevokedAtUs { get; set; }

    public long? Reason { get; set; }
}

/// <summary>A certificate an issuance says it renews (<c>renews</c>), as the renewal checks read it.</summary>
public sealed class RenewalTargetRow
{
    public string Serial { get; set; } = "";

    public string Kind { get; set; } = "";

    public byte[]? ResidentKey { get; set; }

    public string? HmacKeyId { get; set; }

    public string Status { get; set; } = "";

    public long NotBeforeUs { get; set; }

    public long NotAfterUs { get; set; }
}

/// <summary>One of a resident's certificates, as the window's list shows it (no personal data).</summary>
public sealed class ResidentCertificateRow
{
    public string Serial { get; set; } = "";

    public string IssuerKeyId { get; set; } = "";

    public string Kind { get; set; } = "";

    public string? MunicipalityCode { get; set; }

    public string Status { get; set; } = "";

    public string? DeliveryState { get; set; }

    public long NotBeforeUs { get; set; }

    public long NotAfterUs { get; set; }

    public long? RevokedAtUs { get; set; }

    public long? Reason { get; set; }
}

/// <summary>
/// The SQL of end-entity issuance in one place: certificates for residents, the key-reuse
/// check, the holder's authentication certificate (the signing certificate's cap) and the
/// per-JST-day issuance sequence.
/// </summary>
public static class EndEntityCertificateStore
{
    /// <summary>Inserts the certificate with delivery state 'issued' and status good, and its status change.</summary>
    public static void Insert(WriteTransaction tx, EndEntityCertificateRow row)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(row);
        tx.Execute(
            """
            INSERT INTO certificates (serial, issuer_key_id, kind, municipality_code, resident_key, hmac_key_id, juki_sequence,
                                      not_before_us, not_after_us, der, crl_dp_der, spki_sha256, delivery_state, status, created_us)
            VALUES (@Serial, @IssuerKeyId, @Kind, @MunicipalityCode, @ResidentKey, @HmacKeyId, @JukiSequence,
                    @NotBeforeUs, @NotAfterUs, @Der, @CrlDpDer, @SpkiSha256, 'issued', 'good', @CreatedUs)
            """,
            row);
        StatusChangeLog.Append(tx, row.IssuerKeyId, row.Serial, CertificateStatus.Good, null, Instant.FromMicros(row.CreatedUs));
    }

    /// <summary>
    /// Moves a certificate from 'issued' to <paramref name="state"/> ('delivered' or 'destroyed');
    /// false when it was not in 'issued' (delivered already, or swept).
    /// </summary>
    public static bool SetDeliveryState(WriteTransaction tx, string serial, string state)
    {
        ArgumentNullException.ThrowIfNull(tx);
        if (state is not ("delivered" or "destroyed"))
        {
            throw new ArgumentOutOfRangeException(nameof(state), state, "a delivery ends 'delivered' or 'destroyed'");
        }

        return tx.Execute(
            "UPDATE certificates SET delivery_state = @state WHERE serial = @serial AND delivery_state = 'issued'",
            new { serial, state }) == 1;
    }

    /// <summary>End-entity certificates still waiting for their delivery confirmation, created before <paramref name="createdBeforeUs"/>.</summary>
    public static IReadOnlyList<string> UndeliveredBefore(WriteTransaction tx, long createdBeforeUs, int limit)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.Query<string>(
                "SELECT serial FROM certificates WHERE delivery_state = 'issued' AND created_us < @createdBeforeUs ORDER BY created_us LIMIT @limit",
                new { createdBeforeUs, limit })
            .ToList();
    }

    public static bool PublicKeyCertified(DbConnection db, string spkiSha256, DbTransaction? tx = null) =>
        db.ExecuteScalar<long>("SELECT COUNT(*) FROM certificates WHERE spki_sha256 = @spkiSha256", new { spkiSha256 }, tx) > 0;

    public static CertificateStatusRow? FindStatus(DbConnection db, string serial) =>
        db.QuerySingleOrDefault<CertificateStatusRow>(
            """
            SELECT c.serial AS Serial, k.issuer_id AS IssuerId, c.issuer_key_id AS IssuerKeyId, c.kind AS Kind, c.status AS Status,
                   c.not_after_us AS NotAfterUs, c.revoked_at_us AS RevokedAtUs, c.reason AS Reason
            FROM certificates c JOIN issuer_keys k ON k.id = c.issuer_key_id
            WHERE c.serial = @serial
            """,
            new { serial });

    /// <summary>The end-entity certificate <paramref name="serial"/> (lower-case hex) as a renewal sees it; null if there is none.</summary>
    public static RenewalTargetRow? FindRenewalTarget(DbConnection db, string serial, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<RenewalTargetRow>(
            """
            SELECT serial AS Serial, kind AS Kind, resident_key AS ResidentKey, hmac_key_id AS HmacKeyId, status AS Status,
                   not_before_us AS NotBeforeUs, not_after_us AS NotAfterUs
            FROM certificates WHERE serial = @serial AND kind IN ('signing', 'authentication')
            """,
            new { serial },
            tx);

    /// <summary>
    /// The resident's end-entity certificates (found by the keyed hash) that have not expired at
    /// <paramref name="nowUs"/>, good and revoked, newest first.
    /// </summary>
    public static IReadOnlyList<ResidentCertificateRow> ResidentCertificates(DbConnection db, byte[] residentKey, string hmacKeyId, long nowUs, DbTransaction? tx = null) =>
        db.Query<ResidentCertificateRow>(
                """
                SELECT serial AS Serial, issuer_key_id AS IssuerKeyId, kind AS Kind, municipality_code AS MunicipalityCode, status AS Status,
                       delivery_state AS DeliveryState, not_before_us AS NotBeforeUs, not_after_us AS NotAfterUs,
                       revoked_at_us AS RevokedAtUs, reason AS Reason
                FROM certificates
                WHERE resident_key = @residentKey AND hmac_key_id = @hmacKeyId AND kind IN ('signing', 'authentication') AND not_after_us > @nowUs
                ORDER BY not_before_us DESC, serial
                """,
                new { residentKey, hmacKeyId, nowUs },
                tx)
            .ToList();

    /// <summary>The latest notAfter of the holder's good, unexpired authentication certificates, if any.</summary>
    public static long? NewestAuthenticationNotAfter(DbConnection db, byte[] residentKey, string hmacKeyId, long nowUs) =>
        db.ExecuteScalar<long?>(
            """
            SELECT MAX(not_after_us) FROM certificates
            WHERE resident_key = @residentKey AND hmac_key_id = @hmacKeyId AND kind = 'authentication'
              AND status = 'good' AND not_after_us > @nowUs
            """,
            new { residentKey, hmacKeyId, nowUs });

    /// <summary>Takes the next number of the JST day's issuance sequence (1, 2, ...) under the writers' lock.</summary>
    public static long NextDailySequence(WriteTransaction tx, DateOnly jstDate)
    {
        ArgumentNullException.ThrowIfNull(tx);
        var date = Instant.ToDateText(jstDate);
        var last = tx.QuerySingleOrDefault<long?>("SELECT last FROM issuance_counters WHERE jst_date = @date", new { date });
        if (last is null)
        {
            tx.Execute("INSERT INTO issuance_counters (jst_date, last) VALUES (@date, 1)", new { date });
            return 1;
        }

        tx.Execute("UPDATE issuance_counters SET last = last + 1 WHERE jst_date = @date", new { date });
        return last.Value + 1;
    }

    /// <summary>What a revocation request needs of its certificate: kind, municipality, the holder's keyed hash.</summary>
    public static RevocationTargetRow? FindRevocationTarget(WriteTransaction tx, string serial)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.QuerySingleOrDefault<RevocationTargetRow>(
            "SELECT serial AS Serial, kind AS Kind, municipality_code AS MunicipalityCode, resident_key AS ResidentKey FROM certificates WHERE serial = @serial",
            new { serial });
    }

    /// <summary>Where a certificate is in its delivery (null state: not an end-entity certificate).</summary>
    public static DeliveryRow? FindDelivery(WriteTransaction tx, string serial)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.QuerySingleOrDefault<DeliveryRow>(
            "SELECT municipality_code AS MunicipalityCode, delivery_state AS DeliveryState, status AS Status FROM certificates WHERE serial = @serial",
            new { serial });
    }

    /// <summary>Every end-entity certificate an issuer key signed (its compromise revokes them all).</summary>
    public static IReadOnlyList<string> SerialsIssuedBy(WriteTransaction tx, string issuerKeyId)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.Query<string>("SELECT serial FROM certificates WHERE issuer_key_id = @issuerKeyId AND kind IN ('signing', 'authentication') ORDER BY serial", new { issuerKeyId }).ToList();
    }
}

public sealed class RevocationTargetRow
{
    public string Serial { get; set; } = "";

    public string Kind { get; set; } = "";

    public string? MunicipalityCode { get; set; }

    public byte[]? ResidentKey { get; set; }
}

public sealed class DeliveryRow
{
    public string? MunicipalityCode { get; set; }

    public string? DeliveryState { get; set; }

    public string Status { get; set; } = "";
}
