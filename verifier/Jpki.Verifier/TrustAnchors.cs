using System.Collections.Immutable;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.X509;

namespace Jpki.Verifier;

/// <summary>Loads the roots a verifier trusts.</summary>
public static class TrustAnchors
{
    /// <summary>
    /// Every self-signed CA certificate in the PEM/DER files of a directory (e.g. the install's
    /// <c>var/certs</c>, which also holds responder and checkpoint certificates: those are skipped,
    /// since they are not self-signed CAs). Every key generation's root is kept.
    /// </summary>
    public static ImmutableArray<X509Certificate> FromDirectory(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"roots directory '{directory}' does not exist");
        }

        var roots = ImmutableArray.CreateBuilder<X509Certificate>();
        foreach (var file in Directory.EnumerateFiles(directory).Where(f => f.EndsWith(".pem", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".crt", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".cer", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal))
        {
            foreach (var certificate in ReadCertificates(File.ReadAllBytes(file)))
            {
                if (IsSelfSignedCa(certificate))
                {
                    roots.Add(certificate);
                }
            }
        }

        return roots.ToImmutable();
    }

    /// <summary>The certificates in a PEM (one or more blocks) or DER file.</summary>
    public static IReadOnlyList<X509Certificate> ReadCertificates(byte[] encoded)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        try
        {
            return new X509CertificateParser().ReadCertificates(encoded).ToList();
        }
        catch (Exception e) when (e is IOException or Org.BouncyCastle.Security.Certificates.CertificateException or ArgumentException or InvalidCastException)
        {
            return [];
        }
    }

    /// <summary>A CA (basicConstraints cA, keyCertSign) whose signature verifies with its own key.</summary>
    public static bool IsSelfSignedCa(X509Certificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (!certificate.SubjectDN.Equivalent(certificate.IssuerDN) || certificate.GetBasicConstraints() < 0)
        {
            return false;
        }

        var usage = certificate.GetKeyUsage();
        if (usage is not null && !usage[5])
        {
            return false;
        }

        return certificate.IsSignatureValid(certificate.GetPublicKey());
    }

    internal static byte[]? SubjectKeyIdentifier(X509Certificate certificate)
    {
        var value = certificate.GetExtensionValue(X509Extensions.SubjectKeyIdentifier);
        try
        {
            return value is null ? null : Asn1OctetString.GetInstance(value.GetOctets()).GetOctets();
        }
        catch (Exception e) when (e is ArgumentException or IOException or InvalidCastException)
        {
            return null;
        }
    }

    internal static byte[]? AuthorityKeyIdentifier(Asn1OctetString? extension)
    {
        if (extension is null)
        {
            return null;
        }

        try
        {
            return Org.BouncyCastle.Asn1.X509.AuthorityKeyIdentifier.GetInstance(extension.GetOctets()).KeyIdentifier?.GetOctets();
        }
        // InvalidOperationException: a wrongly tagged keyIdentifier (found by ./jpki fuzz verifier-cms).
        catch (Exception e) when (e is ArgumentException or IOException or InvalidCastException or InvalidOperationException)
        {
            return null;
        }
    }
}
