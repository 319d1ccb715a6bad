using System.Collections.Concurrent;
using System.Formats.Asn1;
using System.Security.Cryptography;
using Jpki.Core.Requests;

namespace Jpki.Core.Issuance;

/// <summary>
/// An issuer certificate's RSA public key, for the check after signing that the signature
/// verifies (<see cref="CertificateIssuer"/>). Importing an RSA key into OpenSSL costs ~190 µs
/// (ImportParameters goes through OpenSSL 3's SubjectPublicKeyInfo decoder), about a quarter of
/// the signature itself, so a CA keeps one of these per issuer key instead of importing the key
/// per certificate. .NET promises no thread safety for one RSA object, so each verification
/// borrows an imported instance of its own: at most one per concurrent issuance is ever made.
/// </summary>
public sealed class IssuerPublicKey : IDisposable
{
    private readonly ConcurrentBag<RSA> idle = [];
    private volatile bool disposed;

    /// <exception cref="ArgumentException">not a DER X.509 certificate with an RSA key.</exception>
    public IssuerPublicKey(byte[] issuerCertificateDer)
    {
        SubjectPublicKeyInfo = Read(issuerCertificateDer);
        try
        {
            RsaSubjectPublicKey.Parameters(SubjectPublicKeyInfo);
        }
        catch (AsnContentException e)
        {
            throw new ArgumentException("the issuer certificate's key is not an RSA key", nameof(issuerCertificateDer), e);
        }
    }

    /// <summary>The SubjectPublicKeyInfo DER of a DER X.509 certificate.</summary>
    /// <exception cref="ArgumentException">not DER X.509.</exception>
    internal static byte[] Read(byte[] certificateDer)
    {
        ArgumentNullException.ThrowIfNull(certificateDer);
        try
        {
            var reader = new AsnReader(certificateDer, AsnEncodingRules.DER);
            return new TbsDer(reader.ReadSequence().ReadEncodedValue()).SubjectPublicKeyInfoDer;
        }
        catch (AsnContentException e)
        {
            throw new ArgumentException("the issuer certificate is not DER X.509", nameof(certificateDer), e);
        }
    }

    /// <summary>The certificate's SubjectPublicKeyInfo, DER.</summary>
    public byte[] SubjectPublicKeyInfo { get; }

    /// <summary>RSASSA-PKCS1-v1_5 with SHA-256 over <paramref name="data"/>.</summary>
    public bool VerifySha256Pkcs1(ReadOnlySpan<byte> data, byte[] signature)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var rsa = idle.TryTake(out var borrowed) ? borrowed : RsaSubjectPublicKey.Import(SubjectPublicKeyInfo);
        try
        {
            return rsa.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        }
        finally
        {
            if (disposed)
            {
                rsa.Dispose();
            }
            else
            {
                idle.Add(rsa);
            }
        }
    }

    public void Dispose()
    {
        disposed = true;
        while (idle.TryTake(out var rsa))
        {
            rsa.Dispose();
        }
    }
}
