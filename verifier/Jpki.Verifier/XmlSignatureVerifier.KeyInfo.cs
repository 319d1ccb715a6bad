using System.Xml;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using BcCertificate = Org.BouncyCastle.X509.X509Certificate;

namespace Jpki.Verifier;

/// <summary>The KeyInfo's rules: which certificate signed, and every other hint bound to it.</summary>
public static partial class XmlSignatureVerifier
{
    private sealed record KeyInfoCheck(Failure? Failure, BcCertificate? Certificate);

    /// <summary>
    /// The KeyInfo must name one certificate — the expected one if the caller gave it — and every
    /// other hint it carries (key value, issuer/serial, subject name, SKI) must describe that same
    /// certificate: a verifier that took the key from one place and the certificate from another
    /// would accept a stranger's signature under a resident's name. Copies of a configured root are
    /// ignored (signers may send their chain).
    /// </summary>
    private static KeyInfoCheck CheckKeyInfo(XmlElement signature, VerifierOptions options, XmlSignatureOptions xmlOptions)
    {
        KeyInfoCheck Refuse(FailureReason reason, string detail) => new(Fail(reason, detail), null);

        var keyInfo = Children(signature, "KeyInfo").ToList();
        if (keyInfo.Count > 1)
        {
            return Refuse(FailureReason.KeyInfoMismatch, $"{keyInfo.Count} ds:KeyInfo elements");
        }

        var hints = keyInfo.SelectMany(k => k.ChildNodes.OfType<XmlElement>()).ToList();
        var foreign = hints.FirstOrDefault(h => h.NamespaceURI != Dsig || h.LocalName is not ("X509Data" or "KeyValue" or "KeyName"));
        if (foreign is not null)
        {
            return Refuse(FailureReason.KeyInfoMismatch, $"the KeyInfo holds <{foreign.Name}>: only X509Data, KeyValue and KeyName are accepted (no key from elsewhere)");
        }

        var certificates = new List<BcCertificate>();
        if (CollectCertificates(hints, options, certificates) is { } unreadable)
        {
            return Refuse(FailureReason.MalformedSignature, unreadable);
        }

        var chosen = ChooseSigner(certificates, xmlOptions);
        if (chosen.Certificate is not { } signer)
        {
            return chosen;
        }

        foreach (var hint in hints)
        {
            var mismatch = hint.LocalName switch
            {
                "KeyValue" => KeyValueMismatch(hint, signer),
                "X509Data" => X509DataMismatch(hint, signer),
                _ => null,
            };
            if (mismatch is not null)
            {
                return Refuse(FailureReason.KeyInfoMismatch, mismatch);
            }
        }

        return new KeyInfoCheck(null, signer);
    }

    /// <summary>The distinct certificates of the KeyInfo's X509Data, copies of a configured root left out; an error when one is not a certificate.</summary>
    private static string? CollectCertificates(List<XmlElement> hints, VerifierOptions options, List<BcCertificate> certificates)
    {
        foreach (var element in hints.Where(h => h.LocalName == "X509Data").SelectMany(d => Children(d, "X509Certificate")))
        {
            var parsed = TrustAnchors.ReadCertificates(DecodeBase64(element.InnerText) ?? []);
            if (parsed.Count != 1)
            {
                return "a ds:X509Certificate in the KeyInfo is not a certificate";
            }

            if (!options.Roots.Any(r => r.Equals(parsed[0])) && !certificates.Any(c => c.Equals(parsed[0])))
            {
                certificates.Add(parsed[0]);
            }
        }

        return null;
    }

    /// <summary>The signer: the expected certificate (and no other carried), or the one certificate carried.</summary>
    private static KeyInfoCheck ChooseSigner(List<BcCertificate> certificates, XmlSignatureOptions xmlOptions)
    {
        KeyInfoCheck Refuse(FailureReason reason, string detail) => new(Fail(reason, detail), null);
        if (xmlOptions.ExpectedCertificate is { } expected)
        {
            return certificates.FirstOrDefault(c => !c.Equals(expected)) is { } other
                ? Refuse(FailureReason.KeyInfoMismatch, $"the KeyInfo carries certificate {Serial(other)}, not the expected {Serial(expected)}")
                : new KeyInfoCheck(null, expected);
        }

        return certificates.Count switch
        {
            0 => Refuse(FailureReason.SignerCertificateMissing, "the KeyInfo carries no X509Certificate (and no expected certificate was given)"),
            > 1 => Refuse(FailureReason.KeyInfoMismatch, $"the KeyInfo carries {certificates.Count} different end-entity certificates ({string.Join(", ", certificates.Select(Serial))}): which one signed is not said"),
            _ => new KeyInfoCheck(null, certificates[0]),
        };
    }

    private static string? KeyValueMismatch(XmlElement keyValue, BcCertificate signer)
    {
        var rsa = One(keyValue, "RSAKeyValue");
        if (rsa is null || CertificateKeys.Of(signer) is not RsaKeyParameters key)
        {
            return "the KeyInfo's KeyValue is not the RSA key of the certificate";
        }

        var modulus = DecodeBase64(One(rsa, "Modulus")?.InnerText);
        var exponent = DecodeBase64(One(rsa, "Exponent")?.InnerText);
        return modulus is not null && exponent is not null && new BigInteger(1, modulus).Equals(key.Modulus) && new BigInteger(1, exponent).Equals(key.Exponent)
            ? null
            : $"the KeyInfo's KeyValue is another key than that of certificate {Serial(signer)}";
    }

    private static string? X509DataMismatch(XmlElement data, BcCertificate signer)
    {
        foreach (var element in data.ChildNodes.OfType<XmlElement>())
        {
            switch (element.LocalName)
            {
                case "X509Certificate" when element.NamespaceURI == Dsig:
                    break;
                case "X509IssuerSerial" when element.NamespaceURI == Dsig:
                    var serial = One(element, "X509SerialNumber")?.InnerText.Trim();
                    if (serial is null || !System.Numerics.BigInteger.TryParse(serial, System.Globalization.CultureInfo.InvariantCulture, out var number)
                        || number != System.Numerics.BigInteger.Parse(signer.SerialNumber.ToString(), System.Globalization.CultureInfo.InvariantCulture))
                    {
                        return $"the KeyInfo's X509IssuerSerial names serial {serial}, not the certificate's {Serial(signer)}";
                    }

                    if (!SameName(One(element, "X509IssuerName")?.InnerText, signer.IssuerDN))
                    {
                        return "the KeyInfo's X509IssuerSerial names another issuer than the certificate's";
                    }

                    break;
                case "X509SubjectName" when element.NamespaceURI == Dsig:
                    if (!SameName(element.InnerText, signer.SubjectDN))
                    {
                        return "the KeyInfo's X509SubjectName is not the certificate's subject";
                    }

                    break;
                case "X509SKI" when element.NamespaceURI == Dsig:
                    var ski = TrustAnchors.SubjectKeyIdentifier(signer);
                    if (ski is null || DecodeBase64(element.InnerText) is not { } given || !given.AsSpan().SequenceEqual(ski))
                    {
                        return "the KeyInfo's X509SKI is not the certificate's subject key identifier";
                    }

                    break;
                default:
                    return $"the KeyInfo's X509Data holds <{element.Name}>, which names no part of the certificate checked";
            }
        }

        return null;
    }

    private static bool SameName(string? text, X509Name name)
    {
        if (text is null)
        {
            return false;
        }

        try
        {
            // RFC 2253 text lists the RDNs last first; BouncyCastle reads it in that order when told so.
            return new X509Name(true, text.Trim()).Equivalent(name) || new X509Name(text.Trim()).Equivalent(name);
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
