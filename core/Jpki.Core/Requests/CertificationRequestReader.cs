using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Pkcs;

namespace Jpki.Core.Requests;

/// <summary>
/// Reads a PKCS#10 certification request as the window sends it — PEM, base64 DER or raw DER,
/// at most <see cref="MaxBytes"/> — and checks what must hold before anything else is looked
/// at: strict DER with nothing after it, a signature that verifies under the request's own key
/// (proof of possession), and a key that passes <see cref="GoodKey"/>.
/// </summary>
public static class CertificationRequestReader
{
    /// <summary>16 KiB: an RSA-2048 request is under 1 KiB; anything near this is not one.</summary>
    public const int MaxBytes = 16 * 1024;

    private static readonly Dictionary<string, HashAlgorithmName> SignatureHashes = new()
    {
        [PkcsObjectIdentifiers.Sha256WithRsaEncryption.Id] = HashAlgorithmName.SHA256,
        [PkcsObjectIdentifiers.Sha384WithRsaEncryption.Id] = HashAlgorithmName.SHA384,
        [PkcsObjectIdentifiers.Sha512WithRsaEncryption.Id] = HashAlgorithmName.SHA512,
    };

    /// <exception cref="CsrRejectedException">the request is refused; the problem says why.</exception>
    public static CheckedRequest Read(ReadOnlySpan<byte> input)
    {
        if (input.Length > MaxBytes)
        {
            throw new CsrRejectedException(CsrProblem.TooLarge, $"the request is {input.Length} bytes; the limit is {MaxBytes}");
        }

        var der = ToDer(input);
        var request = Parse(der);
        var spki = request.GetCertificationRequestInfo().SubjectPublicKeyInfo;
        if (!spki.Algorithm.Algorithm.Equals(PkcsObjectIdentifiers.RsaEncryption))
        {
            throw new CsrRejectedException(CsrProblem.UnsupportedKeyType, $"the key algorithm is {spki.Algorithm.Algorithm}; JPKI cards use RSA");
        }

        // The key and the signature are handled by .NET's RSA (OpenSSL), not BouncyCastle:
        // BouncyCastle validates every RsaKeyParameters it builds with a probabilistic primality
        // test of the modulus, which cost ~25 ms per request on the issuance hot path. The
        // modulus and exponent are read here with System.Formats.Asn1 and handed to OpenSSL as
        // parameters, which saves the export back (~140 µs) the checks would need after an
        // ImportSubjectPublicKeyInfo; the import itself (~190 µs) goes through OpenSSL 3's decoder either way.
        var spkiDer = spki.GetDerEncoded();
        RSAParameters parameters;
        try
        {
            parameters = RsaSubjectPublicKey.Parameters(spkiDer);
        }
        catch (AsnContentException e)
        {
            throw new CsrRejectedException(CsrProblem.Malformed, $"the RSA public key does not parse: {e.Message}");
        }

        // The size and exponent come first so that an EC, 1024-bit or e=3 key gets its own answer.
        GoodKey.Check(parameters.Modulus!, parameters.Exponent!);
        CheckProofOfPossession(request, parameters);
        return new CheckedRequest(der, spkiDer);
    }

    /// <summary>Strict DER with nothing after it, then BouncyCastle's PKCS#10 structure.</summary>
    private static Pkcs10CertificationRequest Parse(byte[] der)
    {
        try
        {
            // An independent strict-DER parse: BouncyCastle alone would accept BER and trailing bytes.
            var reader = new AsnReader(der, AsnEncodingRules.DER);
            reader.ReadSequence();
            reader.ThrowIfNotEmpty();
        }
        catch (AsnContentException e)
        {
            throw new CsrRejectedException(CsrProblem.Malformed, $"not a DER SEQUENCE: {e.Message}");
        }

        try
        {
            var request = new Pkcs10CertificationRequest(der);
            _ = request.GetCertificationRequestInfo().Subject;
            return request;
        }
        catch (Exception e) when (e is ArgumentException or InvalidCastException or IOException or InvalidOperationException)
        {
            throw new CsrRejectedException(CsrProblem.Malformed, $"not a PKCS#10 CertificationRequest: {e.Message}");
        }
    }

    /// <summary>The request's signature verifies under its own key, with an accepted RSA algorithm (NULL parameters only).</summary>
    private static void CheckProofOfPossession(Pkcs10CertificationRequest request, RSAParameters parameters)
    {
        var signatureAlgorithm = request.SignatureAlgorithm.Algorithm;
        var hash = SignatureHashes.TryGetValue(signatureAlgorithm.Id, out var h)
            ? h
            : throw new CsrRejectedException(CsrProblem.BadSignature, $"the request is signed with {signatureAlgorithm}; only sha256/384/512WithRSAEncryption are accepted");
        if (request.SignatureAlgorithm.Parameters is { } p && p is not Org.BouncyCastle.Asn1.Asn1Null)
        {
            throw new CsrRejectedException(CsrProblem.BadSignature, "the signature algorithm carries parameters other than NULL");
        }

        var info = request.GetCertificationRequestInfo().GetDerEncoded();
        byte[] signature;
        try
        {
            signature = request.GetSignatureOctets();
        }
        catch (IOException e)
        {
            // Found by ./jpki fuzz pkcs10: a signature BIT STRING with unused bits escaped as IOException.
            throw new CsrRejectedException(CsrProblem.Malformed, $"the signature is not a whole number of octets: {e.Message}");
        }

        RSA rsa;
        try
        {
            rsa = RSA.Create(parameters);
        }
        catch (CryptographicException e)
        {
            throw new CsrRejectedException(CsrProblem.Malformed, $"the RSA public key is not usable: {e.Message}");
        }

        using var key = rsa;
        if (!rsa.VerifyData(info, signature, hash, RSASignaturePadding.Pkcs1))
        {
            throw new CsrRejectedException(CsrProblem.BadSignature, "the request's signature does not verify under its own public key");
        }
    }

    private static byte[] ToDer(ReadOnlySpan<byte> input)
    {
        if (input.Length > 0 && input[0] == 0x30)
        {
            return input.ToArray();
        }

        var text = Encoding.ASCII.GetString(input).Trim();
        if (text.StartsWith("-----BEGIN", StringComparison.Ordinal))
        {
            var begin = text.IndexOf('\n', StringComparison.Ordinal);
            var end = text.LastIndexOf("-----END", StringComparison.Ordinal);
            var label = text.Split('\n', 2)[0].Trim();
            if (begin < 0 || end < begin || (label != "-----BEGIN CERTIFICATE REQUEST-----" && label != "-----BEGIN NEW CERTIFICATE REQUEST-----"))
            {
                throw new CsrRejectedException(CsrProblem.Malformed, "PEM without a CERTIFICATE REQUEST block");
            }

            text = text[begin..end];
        }

        try
        {
            return Convert.FromBase64String(string.Concat(text.Where(c => !char.IsWhiteSpace(c))));
        }
        catch (FormatException)
        {
            throw new CsrRejectedException(CsrProblem.Malformed, "neither DER, nor PEM, nor base64");
        }
    }
}

/// <summary>A request that passed every check: its exact DER and its public key (DER SubjectPublicKeyInfo).</summary>
public sealed record CheckedRequest(byte[] Der, byte[] SubjectPublicKeyInfo);
