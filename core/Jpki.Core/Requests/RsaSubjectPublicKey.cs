using System.Formats.Asn1;
using System.Security.Cryptography;

namespace Jpki.Core.Requests;

/// <summary>
/// An RSA SubjectPublicKeyInfo read with System.Formats.Asn1, for OpenSSL's ImportParameters.
/// Any import into OpenSSL costs ~190 µs (ImportParameters too re-encodes the key and goes
/// through OpenSSL 3's SubjectPublicKeyInfo decoder); reading the parameters here saves the
/// export back that the request reader's checks needed (~140 µs a request). The issuer's key
/// is imported once per CA process (<see cref="Issuance.IssuerPublicKey"/>).
/// </summary>
internal static class RsaSubjectPublicKey
{
    /// <summary>
    /// The modulus and exponent of an rsaEncryption SubjectPublicKeyInfo (RFC 8017 A.1.1), as
    /// unsigned big-endian bytes; strict DER, parameters NULL or absent, nothing trailing.
    /// </summary>
    /// <exception cref="AsnContentException">not that structure.</exception>
    public static RSAParameters Parameters(ReadOnlyMemory<byte> spkiDer)
    {
        var spki = new AsnReader(spkiDer, AsnEncodingRules.DER).ReadSequence();
        var algorithm = spki.ReadSequence();
        algorithm.ReadObjectIdentifier();
        if (algorithm.HasData)
        {
            algorithm.ReadNull();
        }

        algorithm.ThrowIfNotEmpty();
        var bits = spki.ReadBitString(out var unused);
        spki.ThrowIfNotEmpty();
        if (unused != 0)
        {
            throw new AsnContentException("the subjectPublicKey BIT STRING has unused bits");
        }

        var key = new AsnReader(bits, AsnEncodingRules.DER);
        var rsaKey = key.ReadSequence();
        key.ThrowIfNotEmpty();
        var modulus = rsaKey.ReadIntegerBytes().Span;
        var exponent = rsaKey.ReadIntegerBytes().Span;
        rsaKey.ThrowIfNotEmpty();
        if (modulus[0] >= 0x80 || exponent[0] >= 0x80)
        {
            throw new AsnContentException("a negative RSA modulus or exponent");
        }

        return new RSAParameters
        {
            Modulus = modulus[0] == 0 ? modulus[1..].ToArray() : modulus.ToArray(),
            Exponent = exponent[0] == 0 ? exponent[1..].ToArray() : exponent.ToArray(),
        };
    }

    /// <summary>An OpenSSL RSA public key for the SubjectPublicKeyInfo.</summary>
    /// <exception cref="AsnContentException">not an RSA SubjectPublicKeyInfo.</exception>
    /// <exception cref="CryptographicException">OpenSSL refused the key.</exception>
    public static RSA Import(ReadOnlyMemory<byte> spkiDer) => RSA.Create(Parameters(spkiDer));
}
