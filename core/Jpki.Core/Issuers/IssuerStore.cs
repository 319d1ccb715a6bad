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
        "id AS Id, issuer_id AS IssuerId, generation AS Generation, hsm_key_label AS HsmKeyLabel, certificate_der AS CertificateDer, not_before_us AS NotBeforeUs, not_after_us AS NotAfterUs, state AS State, created_us AS CreatedUs, issues_from_us AS IssuesFromUs, published_us AS PublishedUs";

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
            INSERT INTO issuer_keys (id, issuer_id, generation, hsm_key_label, certificate_der, not_before_us, not_after_us, state, created_us, issues_from_us, published_us)
            VALUES (@Id, @IssuerId, @Generation, @HsmKeyLabel, @CertificateDer, @NotBeforeUs, @NotAfterUs, @State, @CreatedUs, @IssuesFromUs, @PublishedUs)
            """,
            key);

    /// <summary>
    /// The key that signs new end-entity certificates of <paramref name="issuerId"/> at
    /// <paramref name="nowUs"/>: the active key with a certificate whose issues_from_us is the
    /// latest not after that instant (after a rollover's switch time, generation N+1; before, N).
    /// A clock behind the first generation's own start still gets the first generation, so that
    /// the pre-issuance lint refuses the certificate (validity before its issuer's); a later
    /// generation never signs before its switch time.
    /// </summary>
    public static IssuerKeyRow? FindIssuingKey(DbConnection db, string issuerId, long nowUs, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<IssuerKeyRow>(
            $"""
            SELECT {KeyColumns} FROM issuer_keys
            WHERE issuer_id = @issuerId AND state = 'active' AND certificate_der IS NOT NULL AND issues_from_us IS NOT NULL
              AND (issues_from_us <= @nowUs OR generation = (SELECT MIN(generation) FROM issuer_keys WHERE issuer_id = @issuerId))
            ORDER BY CASE WHEN issues_from_us <= @nowUs THEN 0 ELSE 1 END, issues_from_us DESC, generation DESC LIMIT 1
            """,
            new { issuerId, nowUs },
            tx);

    /// <summary>
    /// The end of a generation (issue 17, docs/rollover.md): a key is past its last end-entity
    /// certificate at <c>@nowUs</c> when a newer active generation of its issuer issues by then (so
    /// no new certificate can come under it) and none of its own signing or authentication
    /// certificates is unexpired. A generation waiting for its switch has no certificate yet but
    /// is not finished: the newer-generation condition keeps it out.
    /// </summary>
    private const string PastLastCertificateCondition =
        """
        EXISTS (SELECT 1 FROM issuer_keys n
                WHERE n.issuer_id = k.issuer_id AND n.generation > k.generation AND n.state = 'active'
                  AND n.certificate_der IS NOT NULL AND n.issues_from_us IS NOT NULL AND n.issues_from_us <= @nowUs)
        AND NOT EXISTS (SELECT 1 FROM certificates c
                        WHERE c.issuer_key_id = k.id AND c.kind IN ('signing', 'authentication') AND c.not_after_us > @nowUs)
        """;

    /// <summary>Whether key <paramref name="id"/> is past its last end-entity certificate at <paramref name="nowUs"/> (see <see cref="KeysPastLastCertificate"/>).</summary>
    public static bool IsPastLastCertificate(DbConnection db, string id, long nowUs, DbTransaction? tx = null) =>
        db.ExecuteScalar<long>($"SELECT COUNT(*) FROM issuer_keys k WHERE k.id = @id AND {PastLastCertificateCondition}", new { id, nowUs }, tx) > 0;

    /// <summary>
    /// The keys past their last end-entity certificate at <paramref name="nowUs"/>: a newer
    /// generation issues and every certificate they signed for residents has expired. Their CRL
    /// series get one final CRL, their OCSP responder stops, their responder certificate is not
    /// renewed; only their ARL goes on until the root expires.
    /// </summary>
    public static IReadOnlyList<string> KeysPastLastCertificate(DbConnection db, long nowUs, DbTransaction? tx = null) =>
        db.Query<string>($"SELECT k.id FROM issuer_keys k WHERE {PastLastCertificateCondition} ORDER BY k.id", new { nowUs }, tx).AsList();

    /// <summary>Marks an issuer key retired: its root has expired and its private keys are destroyed (<c>./jpki hsm retire</c>).</summary>
    public static bool MarkRetired(WriteTransaction tx, string id)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.Execute("UPDATE issuer_keys SET state = 'retired' WHERE id = @id AND state = 'active'", new { id }) == 1;
    }

    /// <summary>The HSM labels of a key's delegated OCSP responders, every one it ever had.</summary>
    public static IReadOnlyList<string> ResponderKeyLabels(DbConnection db, string issuerKeyId, DbTransaction? tx = null) =>
        db.Query<string>("SELECT DISTINCT hsm_key_label FROM ocsp_responders WHERE issuer_key_id = @issuerKeyId ORDER BY hsm_key_label", new { issuerKeyId }, tx).AsList();

    /// <summary>Records when a key's root and fingerprint were published.</summary>
    public static void MarkPublished(WriteTransaction tx, string id, long publishedUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        tx.Execute("UPDATE issuer_keys SET published_us = @publishedUs WHERE id = @id AND published_us IS NULL", new { id, publishedUs });
    }

    /// <summary>Sets the instant from which a key signs new end-entity certificates.</summary>
    public static void SetIssuesFrom(WriteTransaction tx, string id, long issuesFromUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        tx.Execute("UPDATE issuer_keys SET issues_from_us = @issuesFromUs WHERE id = @id", new { id, issuesFromUs });
    }

    private const string LinkColumns =
        "l.serial AS Serial, l.issuer_id AS IssuerId, l.direction AS Direction, l.signer_key_id AS SignerKeyId, l.subject_key_id AS SubjectKeyId, l.created_us AS CreatedUs, c.der AS CertificateDer";

    /// <summary>The link certificates of an issuer (both directions, every pair of generations), oldest first.</summary>
    public static IReadOnlyList<LinkCertificateRow> ListLinks(DbConnection db, string issuerId, DbTransaction? tx = null) =>
        db.Query<LinkCertificateRow>(
            $"SELECT {LinkColumns} FROM link_certificates l JOIN certificates c ON c.serial = l.serial WHERE l.issuer_id = @issuerId ORDER BY l.created_us, l.serial",
            new { issuerId },
            tx).AsList();

    public static LinkCertificateRow? FindLink(DbConnection db, string signerKeyId, string subjectKeyId, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<LinkCertificateRow>(
            $"SELECT {LinkColumns} FROM link_certificates l JOIN certificates c ON c.serial = l.serial WHERE l.signer_key_id = @signerKeyId AND l.subject_key_id = @subjectKeyId",
            new { signerKeyId, subjectKeyId },
            tx);

    /// <summary>Records a link certificate: its certificates row (kind 'root', under the signing key, with its status change) and its link row.</summary>
    public static void InsertLink(WriteTransaction tx, IssuedCertificate certificate, string issuerId, string direction, string subjectKeyId)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(certificate);
        InsertCertificate(tx, certificate);
        tx.Execute(
            "INSERT INTO link_certificates (serial, issuer_id, direction, signer_key_id, subject_key_id, created_us) VALUES (@Serial, @issuerId, @direction, @IssuerKeyId, @subjectKeyId, @CreatedUs)",
            new { certificate.Serial, issuerId, direction, certificate.IssuerKeyId, subjectKeyId, certificate.CreatedUs });
    }

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

    /// <summary>
    /// Revokes a delegated responder certificate whose key is compromised: reason keyCompromise
    /// (RFC 5280 code 1), its status change (the full CRL and the ARL of the issuer key list it,
    /// decision 0420) in the caller's transaction. False when it was not good any more.
    /// </summary>
    public static bool RevokeCompromisedResponder(WriteTransaction tx, string serial, string source, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(tx);
        var atUs = Instant.ToMicros(at);
        var issuerKeyId = tx.QuerySingleOrDefault<string>(
            """
            UPDATE certificates SET status = 'revoked', revoked_at_us = @atUs, reason = 1, revocation_source = @source, revocation_cause = 'responderKeyCompromise'
            WHERE serial = @serial AND kind = 'ocsp-responder' AND status = 'good'
            RETURNING issuer_key_id
            """,
            new { serial, source, atUs });
        if (issuerKeyId is null)
        {
            return false;
        }

        StatusChangeLog.Append(tx, issuerKeyId, serial, CertificateStatus.Revoked, 1, Instant.FromMicros(atUs));
        return true;
    }

    /// <summary>Whether the certificate with this serial is in the store and not revoked.</summary>
    public static bool IsGood(DbConnection db, string serial) =>
        db.ExecuteScalar<long>("SELECT COUNT(*) FROM certificates WHERE serial = @serial AND status = 'good'", new { serial }) > 0;

    public static void InsertResponder(WriteTransaction tx, string serial, string issuerKeyId, string hsmKeyLabel, long notAfterUs, long createdUs) =>
        tx.Execute(
            "INSERT INTO ocsp_responders (serial, issuer_key_id, hsm_key_label, not_after_us, created_us) VALUES (@serial, @issuerKeyId, @hsmKeyLabel, @notAfterUs, @createdUs)",
            new { serial, issuerKeyId, hsmKeyLabel, notAfterUs, createdUs });

    /// <summary>
    /// Active generations whose root ends in (<paramref name="nowUs"/>, <paramref name="limitUs"/>]
    /// with no newer active generation of the same issuer: the roots that need a rollover.
    /// </summary>
    public static IReadOnlyList<ExpiringKeyRow> RootsEndingWithoutSuccessor(DbConnection db, long nowUs, long limitUs) =>
        db.Query<ExpiringKeyRow>(
            """
            SELECT k.id AS Id, k.not_after_us AS NotAfterUs FROM issuer_keys k
            WHERE k.state = 'active' AND k.certificate_der IS NOT NULL AND k.not_after_us > @nowUs AND k.not_after_us <= @limitUs
              AND NOT EXISTS (SELECT 1 FROM issuer_keys n
                              WHERE n.issuer_id = k.issuer_id AND n.generation > k.generation AND n.state = 'active' AND n.certificate_der IS NOT NULL)
            ORDER BY k.id
            """,
            new { nowUs, limitUs }).AsList();

    /// <summary>
    /// Active, unexpired issuer keys whose newest good responder certificate ends by
    /// <paramref name="limitUs"/> (or has ended) before the key itself does: renewal has not happened.
    /// A generation past its last end-entity certificate is left out: its responder stops and is not renewed.
    /// </summary>
    public static IReadOnlyList<ExpiringKeyRow> RespondersEndingWithoutSuccessor(DbConnection db, long nowUs, long limitUs) =>
        db.Query<ExpiringKeyRow>(
            $"""
            SELECT k.id AS Id, MAX(r.not_after_us) AS NotAfterUs
            FROM issuer_keys k JOIN ocsp_responders r ON r.issuer_key_id = k.id JOIN certificates c ON c.serial = r.serial
            WHERE k.state = 'active' AND k.not_after_us > @nowUs AND c.status = 'good'
              AND NOT ({PastLastCertificateCondition})
            GROUP BY k.id, k.not_after_us
            HAVING MAX(r.not_after_us) <= @limitUs AND MAX(r.not_after_us) < k.not_after_us
            ORDER BY k.id
            """,
            new { nowUs, limitUs }).AsList();

    private const string InstallKeyColumns =
        "id AS Id, purpose AS Purpose, hsm_key_label AS HsmKeyLabel, certificate_der AS CertificateDer, state AS State, created_us AS CreatedUs";

    public static InstallKeyRow? FindInstallKey(DbConnection db, string id, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<InstallKeyRow>($"SELECT {InstallKeyColumns} FROM install_keys WHERE id = @id", new { id }, tx);

    public static IReadOnlyList<InstallKeyRow> ListInstallKeys(DbConnection db, string? purpose = null) =>
        db.Query<InstallKeyRow>(
            $"SELECT {InstallKeyColumns} FROM install_keys WHERE @purpose IS NULL OR purpose = @purpose ORDER BY id",
            new { purpose }).AsList();

    /// <summary>
    /// The audit-checkpoint key that signs now: the newest active one (a handover retires the old
    /// key in the transaction that records the new one, decision 0421); null before the ceremony.
    /// </summary>
    public static InstallKeyRow? CurrentCheckpointKey(DbConnection db, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<InstallKeyRow>(
            $"SELECT {InstallKeyColumns} FROM install_keys WHERE purpose = 'audit-checkpoint' AND state = 'active' ORDER BY created_us DESC, id DESC LIMIT 1",
            transaction: tx);

    /// <summary>Marks an install key retired (it signs nothing more); false when it was not active.</summary>
    public static bool RetireInstallKey(WriteTransaction tx, string id) =>
        tx.Execute("UPDATE install_keys SET state = 'retired' WHERE id = @id AND state = 'active'", new { id }) == 1;

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

    /// <summary>From when the key signs new end-entity certificates; null: not yet (a rollover not switched).</summary>
    public long? IssuesFromUs { get; set; }

    /// <summary>When its root and fingerprint were published; null: not yet.</summary>
    public long? PublishedUs { get; set; }
}

public sealed class LinkCertificateRow
{
    public const string NewWithOld = "new-with-old";
    public const string OldWithNew = "old-with-new";

    public string Serial { get; set; } = "";

    public string IssuerId { get; set; } = "";

    public string Direction { get; set; } = "";

    public string SignerKeyId { get; set; } = "";

    public string SubjectKeyId { get; set; } = "";

    public long CreatedUs { get; set; }

    public byte[] CertificateDer { get; set; } = [];

    /// <summary>The file name under certs/ and over HTTP: <c>{subject key}-by-{signer key}.pem</c>.</summary>
    public string FileName => $"{SubjectKeyId}-by-{SignerKeyId}.pem";
}

public sealed class ResponderRow
{
    public string Serial { get; set; } = "";

    public string IssuerKeyId { get; set; } = "";

    public string HsmKeyLabel { get; set; } = "";

    public long NotAfterUs { get; set; }

    public byte[] CertificateDer { get; set; } = [];
}

/// <summary>A key whose certificate ends soon: the issuer key's id and that certificate's notAfter.</summary>
public sealed class ExpiringKeyRow
{
    public string Id { get; set; } = "";

    public long NotAfterUs { get; set; }
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
