using System.Security.Cryptography;

namespace Jpki.Core.Issuers;

/// <summary>
/// A generation's published fingerprint, the way J-LIS publishes each root's: the SHA-256 of the
/// DER certificate, written exactly as <c>openssl x509 -noout -fingerprint -sha256</c> prints it,
/// so a verifier checks the file it downloaded with one <c>diff</c>.
/// </summary>
public static class RootFingerprint
{
    /// <summary>Upper-case hex pairs joined by colons.</summary>
    public static string Sha256(byte[] certificateDer)
    {
        ArgumentNullException.ThrowIfNull(certificateDer);
        return string.Join(':', SHA256.HashData(certificateDer).Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));
    }

    /// <summary>The line of the <c>{keyId}.sha256</c> file and of the HTTP resource: <c>sha256 Fingerprint=AB:CD:...</c> and a newline.</summary>
    public static string Line(byte[] certificateDer) => $"sha256 Fingerprint={Sha256(certificateDer)}\n";
}
