using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Jpki.Testing;

/// <summary>
/// Stand-ins for a resident's card in tests about something else (crashes, recovery, HSM faults):
/// a PKCS#10 request from a key made in process, and the PKCS#11 module the tests load.
/// </summary>
public static class SoftwareCards
{
    /// <summary>JPKI_PKCS11_MODULE, or Debian's SoftHSM2 module.</summary>
    public static string ModulePath =>
        Environment.GetEnvironmentVariable("JPKI_PKCS11_MODULE") is { Length: > 0 } module ? module : "/usr/lib/softhsm/libsofthsm2.so";

    /// <summary>A PKCS#10 request (PEM, SHA-256 with RSA-2048, subject CN=card) from a fresh software key.</summary>
    public static string Csr()
    {
        using var rsa = RSA.Create(2048);
        return new CertificateRequest("CN=card", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequestPem();
    }
}
