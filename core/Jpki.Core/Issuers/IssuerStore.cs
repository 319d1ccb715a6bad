using System.Data.Common;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.Core.Issuers;

/// <summary>
/// The SQL of the issuer aggregate in one place: issuers, their key generations, the delegated
/// OCSP responders of each key, the install's own keys (audit checkpoint, resident HMAC), and
/// the certificates the ceremony issues. Every certificate insert also appends its 'good'
/// row to status_changes in the same transaction (how OCSP and the CRL publisher learn of it).
/// </summary>
public static class IssuerStore
{
    public static IssuerRow? FindIssuer(DbConnection db, string id, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<IssuerRow>(
            "SELECT id AS Id, prefecture AS Prefecture, kind AS Kind, subject_dn AS SubjectDn, created_us AS CreatedUs FROM issuers WHERE id = @id",
            new { id },
            tx);

    public static IReadOnlyList<IssuerRow> ListIssuers(DbConnection db) =>
        db.Query<IssuerRow>("SELECT id AS Id, prefecture AS Prefecture, kind AS Kind, subject_dn AS SubjectDn, created_us AS CreatedUs FROM issuers ORDER BY id").AsList();

    public static void InsertIssuer(WriteTransaction tx, IssuerRow issuer) =>
        tx.Execute(
            "INSERT INTO issuers (id, prefecture, kind, subject_dn, created_us) VALUES (@Id, @Prefecture, @Kind, @SubjectDn, @CreatedUs)",
            issuer);

    private const string KeyColumns =
        "id AS Id, issuer_id AS IssuerId, generation AS Generation, hsm_key_label AS HsmKeyLabel, certificate_der AS CertificateDer, not_before_us AS NotBeforeUs, not_after_us AS NotAfterUs, state AS State, created_us AS CreatedUs";

    public static IssuerKeyRow? FindKey(DbConnection db, string id, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<IssuerKeyRow>($"SELECT {KeyColumns} FROM issuer_keys WHERE id = @id", new { id }, tx);

    /// <summary>Marks an issuer key compromised: nothing is signed with it any more.</summary>
    public static void MarkCompromised(WriteTransaction tx, string id)
    {
        ArgumentNullException.ThrowIfNull(tx);
        tx.Execute("UPDATE issuer_keys SET state = 'compromised' WHERE id = @id", new { id });
    }

    public static IReadOnlyList<IssuerKeyRow> ListKeys(DbConnection db, string issuerId) =>
        db.Query<IssuerKeyRow>($"SELECT {KeyColumns} FROM issuer_keys WHERE issuer_id = @issuerId ORDER BY generation", new { issuerId }).AsList();

    public static void InsertKey(WriteTransaction tx, IssuerKeyRow key) =>
        tx.Execute(
            """
            INSERT INTO issuer_keys (id, issuer_id, generation, hsm_key_label, certificate_der, not_before_us, not_after_us, state, created_us)
            VALUES (@Id, @IssuerId, @Generation, @HsmKeyLabel, @CertificateDer, @NotBeforeUs, @NotAfterUs, @State, @CreatedUs)
            """,
            key);

    /// <summary>Records a certificate the CA issued (root, responder, ...) and its 'good' status change.</summary>
    public static void InsertCertificate(WriteTransaction tx, IssuedCertificate certificate)
    {
        tx.Execute(
            """
            INSERT INTO certificates (serial, issuer_key_id, kind, not_before_us, not_after_us, der, status, created_us)
            VALUES (@Serial, @IssuerKeyId, @Kind, @NotBeforeUs, @NotAfterUs, @Der, 'good', @CreatedUs)
            """,
            certificate);
        StatusChangeLog.Append(tx, certificate.IssuerKeyId, certificate.Serial, CertificateStatus.Good, null, Instant.FromMicros(certificate.CreatedUs));
    }

    public static ResponderRow? FindCurrentResponder(DbConnection db, string issuerKeyId, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<ResponderRow>(
            """
            SELECT r.serial AS Serial, r.issuer_key_id AS IssuerKeyId, r.hsm_key_label AS HsmKeyLabel, r.not_after_us AS NotAfterUs, c.der AS CertificateDer
            FROM ocsp_responders r JOIN certificates c ON c.serial = r.serial
            WHERE r.issuer_key_id = @issuerKeyId AND c.status = 'good'
            ORDER BY r.not_after_us DESC LIMIT 1
            """,
            new { issuerKeyId },
            tx);

    public static void InsertResponder(WriteTransaction tx, string serial, string issuerKeyId, string hsmKeyLabel, long notAfterUs, long createdUs) =>
        tx.Execute(
            "INSERT INTO ocsp_responders (serial, issuer_key_id, hsm_key_label, not_after_us, created_us) VALUES (@serial, @issuerKeyId, @hsmKeyLabel, @notAfterUs, @createdUs)",
            new { serial, issuerKeyId, hsmKeyLabel, notAfterUs, createdUs });

    private const string InstallKeyColumns =
        "id AS Id, purpose AS Purpose, hsm_key_label AS HsmKeyLabel, certificate_der AS CertificateDer, state AS State, created_us AS CreatedUs";

    public static InstallKeyRow? FindInstallKey(DbConnection db, string id, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<InstallKeyRow>($"SELECT {InstallKeyColumns} FROM install_keys WHERE id = @id", new { id }, tx);

    public static IReadOnlyList<InstallKeyRow> ListInstallKeys(DbConnection db, string? purpose = null) =>
        db.Query<InstallKeyRow>(
            $"SELECT {InstallKeyColumns} FROM install_keys WHERE @purpose IS NULL OR purpose = @purpose ORDER BY id",
            new { purpose }).AsList();

    public static void InsertInstallKey(WriteTransaction tx, InstallKeyRow key) =>
        tx.Execute(
            "INSERT INTO install_keys (id, purpose, hsm_key_label, certificate_der, state, created_us) VALUES (@Id, @Purpose, @HsmKeyLabel, @CertificateDer, @State, @CreatedUs)",
            key);
}

public sealed class IssuerRow
{
    public string Id { get; set; } = "";

    public string Prefecture { get; set; } = "";

    public string Kind { get; set; } = "";

    public string SubjectDn { get; set; } = "";

    public long CreatedUs { get; set; }
}

public sealed class IssuerKeyRow
{
    public string Id { get; set; } = "";

    public string IssuerId { get; set; } = "";

    public int Generation { get; set; }

    public string HsmKeyLabel { get; set; } = "";

    public byte[]? CertificateDer { get; set; }

    public long NotBeforeUs { get; set; }

    public long NotAfterUs { get; set; }

    public string State { get; set; } = "active";

    public long CreatedUs { get; set; }
}

public sealed class ResponderRow
{
    public string Serial { get; set; } = "";

    public string IssuerKeyId { get; set; } = "";

    public string HsmKeyLabel { get; set; } = "";

    public long NotAfterUs { get; set; }

    public byte[] CertificateDer { get; set; } = [];
}

public sealed class InstallKeyRow
{
    public string Id { get; set; } = "";

    public string Purpose { get; set; } = "";

    public string HsmKeyLabel { get; set; } = "";

    public byte[]? CertificateDer { get; set; }

    public string State { get; set; } = "active";

    public long CreatedUs { get; set; }
}

public sealed record IssuedCertificate(string Serial, string IssuerKeyId, string Kind, long NotBeforeUs, long NotAfterUs, byte[] Der, long CreatedUs);
