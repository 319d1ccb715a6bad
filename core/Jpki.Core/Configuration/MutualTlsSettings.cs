namespace Jpki.Core.Configuration;

/// <summary>
/// An HTTPS listener with mutual TLS next to the plain HTTP one (<c>ocsp.mutualTls</c>,
/// <c>crl.mutualTls</c>): a client may present a certificate (not required, so token clients can
/// use it too); any certificate completes the handshake and the access policy then accepts it only
/// if it is registered to an enabled verifier. The server's own certificate and key are PEM files.
/// </summary>
public sealed record MutualTlsSettings
{
    /// <summary>e.g. <c>https://127.0.0.1:8092</c>.</summary>
    public string Listen { get; init; } = "";

    public string CertificateFile { get; init; } = "";

    /// <summary>The server key (PEM, unencrypted, mode 0600): it is a TLS key, not a CA key, so it is not in the HSM.</summary>
    public string KeyFile { get; init; } = "";

    internal void Validate(string path, string section)
    {
        if (!Listen.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || CertificateFile.Length == 0 || KeyFile.Length == 0)
        {
            throw new InvalidDataException($"{path}: {section} needs listen (https://...), certificateFile and keyFile");
        }
    }

    /// <summary>Loads the server certificate with its key; a missing or unreadable file is an <see cref="InvalidDataException"/> naming it.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2 LoadServerCertificate(Func<string, string> resolve)
    {
        ArgumentNullException.ThrowIfNull(resolve);
        var certificate = resolve(CertificateFile);
        var key = resolve(KeyFile);
        try
        {
            return System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(certificate, key);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new InvalidDataException($"the mutual-TLS listener's certificate '{certificate}' or key '{key}' cannot be loaded: {e.Message}", e);
        }
    }
}
