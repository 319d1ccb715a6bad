using System.Data.Common;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.Core.Accounts;

/// <summary>A verifier's registered client certificate, as stored (never the certificate itself).</summary>
public sealed record ClientCertificateRegistration(string Sha256, string Account, string Subject, long NotBeforeUs, long NotAfterUs);

/// <summary>A certificate that cannot be registered (not a certificate, or registered already).</summary>
public sealed class ClientCertificateException(string message) : Exception(message);

/// <summary>The SQL of verifier client certificates (migration 0009): found by the SHA-256 of the DER.</summary>
public static class ClientCertificateStore
{
    public static string Fingerprint(ReadOnlySpan<byte> der) => Convert.ToHexStringLower(SHA256.HashData(der));

    /// <summary>Reads one PEM or base64 DER certificate; anything else is a <see cref="ClientCertificateException"/>.</summary>
    public static X509Certificate2 Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Length > 64 * 1024)
        {
            throw new ClientCertificateException("certificatePem must be one X.509 certificate (PEM or base64 DER), at most 64 KiB");
        }

        X509Certificate2? certificate = null;
        try
        {
            certificate = text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal)
                ? X509Certificate2.CreateFromPem(text)
                : X509CertificateLoader.LoadCertificate(Convert.FromBase64String(text.Trim()));
            // OpenSSL decodes some fields only when asked: read what Register stores now, so that
            // a certificate with an unreadable validity is refused here and not a 500 later
            // (found by ./jpki fuzz client-certificate: NotAfter threw CryptographicException).
            _ = certificate.Subject;
            _ = certificate.NotBefore;
            _ = certificate.NotAfter;
            return certificate;
        }
        catch (Exception e) when (e is CryptographicException or FormatException or ArgumentException)
        {
            certificate?.Dispose();
            throw new ClientCertificateException("certificatePem is not an X.509 certificate: " + e.Message);
        }
    }

    public static ClientCertificateRegistration Register(WriteTransaction tx, string account, X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(certificate);
        var registration = new ClientCertificateRegistration(
            Fingerprint(certificate.RawData),
            account,
            certificate.Subject,
            Instant.ToMicros(new DateTimeOffset(certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero)),
            Instant.ToMicros(new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero)));
        if (tx.QuerySingleOrDefault<string>("SELECT account FROM verifier_client_certificates WHERE sha256 = @Sha256", registration) is { } holder)
        {
            throw new ClientCertificateException($"this certificate is registered already (to '{holder}')");
        }

        tx.Execute(
            """
            INSERT INTO verifier_client_certificates (sha256, account, subject, not_before_us, not_after_us, created_us)
            VALUES (@Sha256, @Account, @Subject, @NotBeforeUs, @NotAfterUs, @CreatedUs)
            """,
            new { registration.Sha256, registration.Account, registration.Subject, registration.NotBeforeUs, registration.NotAfterUs, CreatedUs = Instant.NowMicros(tx.Time) });
        return registration;
    }

    /// <summary>Removes one registration of <paramref name="account"/>; false if there was none.</summary>
    public static bool Remove(WriteTransaction tx, string account, string sha256)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.Execute("DELETE FROM verifier_client_certificates WHERE account = @account AND sha256 = @sha256", new { account, sha256 }) == 1;
    }

    public static IReadOnlyList<ClientCertificateRegistration> List(DbConnection db, string account) =>
        db.Query<ClientCertificateRegistration>(
            "SELECT sha256 AS Sha256, account AS Account, subject AS Subject, not_before_us AS NotBeforeUs, not_after_us AS NotAfterUs FROM verifier_client_certificates WHERE account = @account ORDER BY created_us, sha256",
            new { account }).ToList();

    /// <summary>The enabled verifier a certificate with this fingerprint is registered to, if it is within its validity at <paramref name="nowUs"/>.</summary>
    public static string? VerifierFor(DbConnection db, string sha256, long nowUs) =>
        db.QuerySingleOrDefault<string>(
            """
            SELECT a.id FROM verifier_client_certificates c JOIN accounts a ON a.id = c.account
            WHERE c.sha256 = @sha256 AND a.role = 'verifier' AND a.disabled = 0
              AND c.not_before_us <= @nowUs AND c.not_after_us >= @nowUs
            """,
            new { sha256, nowUs });
}
