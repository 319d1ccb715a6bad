using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Security.Cryptography.Xml;
using System.Xml;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using BcCertificate = Org.BouncyCastle.X509.X509Certificate;

namespace Jpki.Verifier;

/// <summary>What an XML verification is told besides the trust settings of <see cref="VerifierOptions"/>.</summary>
public sealed record XmlSignatureOptions
{
    /// <summary>
    /// The element the application processes, by local name and namespace URI (e.g. the
    /// <c>Return</c> beside the signature in a detached signature). It must occur exactly once in
    /// the document and be the one element the signature's reference covers. Null: the document
    /// element (an enveloped signature over the whole document).
    /// </summary>
    public XmlQualifiedName? SignedElement { get; init; }

    /// <summary>
    /// The certificate the relying party expects (e.g. the one registered for this filer): the
    /// KeyInfo must not name another. Null: the one certificate the KeyInfo carries.
    /// </summary>
    public BcCertificate? ExpectedCertificate { get; init; }
}

/// <summary>
/// The answer of <see cref="XmlSignatureVerifier"/>: the same checks as a CMS verification, and the
/// element the signature covers — the node of the parsed document the application should read,
/// never one it looks up by itself (that is how signature wrapping gets in).
/// </summary>
public sealed record XmlVerificationResult(VerificationResult Verification, XmlDocument? Document, XmlElement? SignedElement, string? ReferenceUri)
{
    public bool IsValid => Verification.IsValid;
}

/// <summary>
/// Checks an XML-DSig signature (enveloped, or detached beside the signed element in the same
/// document) made with a JPKI signing certificate. .NET's SignedXml does the XML-DSig part
/// (reference digest, canonicalisation, the signature over SignedInfo); before it runs, the
/// signature's shape is held to what a JPKI e-filing signature is — exactly one ds:Signature with one
/// reference, to "" or a same-document #id, only the C14N and enveloped-signature transforms,
/// SHA-2 digests and RSA signatures, a KeyInfo that names one certificate and nothing else — and the
/// reference must land on the element the application processes. The certificate is then checked
/// by the same code path as a CMS signature (chain, validity, profile, four facts, status).
/// </summary>
public static partial class XmlSignatureVerifier
{
    private const string Dsig = SignedXml.XmlDsigNamespaceUrl;

    private static readonly ImmutableHashSet<string> CanonicalisationTransforms =
    [
        SignedXml.XmlDsigC14NTransformUrl,
        SignedXml.XmlDsigC14NWithCommentsTransformUrl,
        SignedXml.XmlDsigExcC14NTransformUrl,
        SignedXml.XmlDsigExcC14NWithCommentsTransformUrl,
    ];

    private static readonly ImmutableDictionary<string, string> SignatureMethods = new Dictionary<string, string>
    {
        [SignedXml.XmlDsigRSASHA256Url] = "rsa-sha256",
        [SignedXml.XmlDsigRSASHA384Url] = "rsa-sha384",
        [SignedXml.XmlDsigRSASHA512Url] = "rsa-sha512",
    }.ToImmutableDictionary();

    private static readonly ImmutableDictionary<string, string> DigestMethods = new Dictionary<string, string>
    {
        [SignedXml.XmlDsigSHA256Url] = "SHA-256",
        [SignedXml.XmlDsigSHA384Url] = "SHA-384",
        [SignedXml.XmlDsigSHA512Url] = "SHA-512",
    }.ToImmutableDictionary();

    /// <summary>Verifies the one ds:Signature in <paramref name="xml"/> and the certificate it was made with.</summary>
    public static async Task<XmlVerificationResult> VerifyAsync(byte[] xml, VerifierOptions options, XmlSignatureOptions? xmlOptions = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(xml);
        ArgumentNullException.ThrowIfNull(options);
        xmlOptions ??= new XmlSignatureOptions();
        var at = options.ValidationTime ?? options.Time.GetUtcNow();
        var checks = ImmutableArray.CreateBuilder<CheckOutcome>();

        var (outcome, document, signer, signedElement, uri) = CheckSignature(xml, options, xmlOptions);
        checks.Add(outcome);
        if (signer is null)
        {
            return new XmlVerificationResult(SignatureVerifier.WithoutCertificate(checks, at, null, "no signer certificate"), document, null, uri);
        }

        var result = await SignatureVerifier.CheckCertificateAsync(checks, signer, CertificateProfile.Signing(options), options, at, null, cancellationToken).ConfigureAwait(false);
        return new XmlVerificationResult(result, document, outcome.Status == CheckStatus.Passed ? signedElement : null, uri);
    }

    /// <summary>
    /// Parses without a DTD: a DOCTYPE is refused outright, so no entity is expanded and nothing
    /// outside the bytes given is read (no resolver at all).
    /// </summary>
    public static XmlDocument Parse(byte[] xml)
    {
        ArgumentNullException.ThrowIfNull(xml);
        var settings = new XmlReaderSettings
        {
            DtdProcessing = DtdProcessing.Prohibit,
            XmlResolver = null,
            MaxCharactersFromEntities = 0,
            CloseInput = true,
        };
        var document = new XmlDocument { PreserveWhitespace = true, XmlResolver = null };
        using var reader = XmlReader.Create(new MemoryStream(xml, writable: false), settings);
        document.Load(reader);
        return document;
    }

    private static Failure Fail(FailureReason reason, string detail) => new(CheckOutcome.Fail(CheckKind.Signature, reason, detail));

    private sealed record Failure(CheckOutcome Outcome);

    private static (CheckOutcome Outcome, XmlDocument? Document, BcCertificate? Signer, XmlElement? SignedElement, string? Uri) CheckSignature(byte[] xml, VerifierOptions options, XmlSignatureOptions xmlOptions)
    {
        XmlDocument document;
        try
        {
            document = Parse(xml);
        }
        catch (XmlException e)
        {
            var problem = e.Message.Contains("DTD", StringComparison.OrdinalIgnoreCase) ? "a DTD (DOCTYPE) is refused: " : "not well-formed XML: ";
            return (CheckOutcome.Fail(CheckKind.Signature, FailureReason.MalformedXml, problem + e.Message), null, null, null, null);
        }

        var signatures = document.GetElementsByTagName("Signature", Dsig).OfType<XmlElement>().ToList();
        if (signatures.Count != 1)
        {
            return (CheckOutcome.Fail(CheckKind.Signature, FailureReason.MalformedSignature, $"{signatures.Count} ds:Signature elements (exactly one expected)"), document, null, null, null);
        }

        var signature = signatures[0];
        var shape = CheckShape(signature);
        if (shape.Failure is { } shapeFailure)
        {
            return (shapeFailure.Outcome, document, null, null, shape.Uri);
        }

        var keyInfo = CheckKeyInfo(signature, options, xmlOptions);
        if (keyInfo.Failure is { } keyFailure)
        {
            return (keyFailure.Outcome, document, null, null, shape.Uri);
        }

        var signer = keyInfo.Certificate!;
        var target = CheckCoverage(document, signature, shape.Uri!, xmlOptions);
        if (target.Failure is { } wrapping)
        {
            return (wrapping.Outcome, document, signer, null, shape.Uri);
        }

        var (outcome, signedElement) = VerifySignedXml(document, signature, signer, shape, target.Element!);
        return (outcome, document, signer, signedElement, shape.Uri);
    }

    /// <summary>SignedXml's check with the checked certificate's key only; when it fails, whether the document or the signature changed.</summary>
    private static (CheckOutcome Outcome, XmlElement? SignedElement) VerifySignedXml(XmlDocument document, XmlElement signature, BcCertificate signer, Shape shape, XmlElement target)
    {
        var signed = new SignedXml(document);
        Reference reference;
        try
        {
            signed.LoadXml(signature);
            reference = (Reference)signed.SignedInfo!.References[0]!;
        }
        catch (Exception e) when (e is CryptographicException or XmlException or InvalidCastException)
        {
            return (CheckOutcome.Fail(CheckKind.Signature, FailureReason.MalformedSignature, "the ds:Signature cannot be read: " + e.Message), null);
        }

        using var certificate = X509CertificateLoader.LoadCertificate(signer.GetEncoded());
        bool verified;
        try
        {
            // Only the checked certificate's key: never a key the KeyInfo might offer instead.
            verified = signed.CheckSignature(certificate, verifySignatureOnly: true);
        }
        catch (CryptographicException e)
        {
            return (CheckOutcome.Fail(CheckKind.Signature, FailureReason.BadSignature, "the signature cannot be checked: " + e.Message), null);
        }

        var what = $"<{target.Name}> (reference \"{shape.Uri}\", {string.Join(", ", shape.Transforms.Select(TransformName))})";
        if (verified)
        {
            return (CheckOutcome.Pass(CheckKind.Signature, $"XML-DSig {SignatureMethods[shape.SignatureMethod]} signature over SignedInfo verifies; the {DigestMethods[shape.DigestMethod]} digest of {what} matches"), target);
        }

        // SignedXml says only false: tell a changed document from a changed signature by
        // recomputing the reference's digest through SignedXml's own signing path.
        return DigestMatches(document, reference)
            ? (CheckOutcome.Fail(CheckKind.Signature, FailureReason.BadSignature, "the signature over SignedInfo does not verify with the signer certificate's key"), null)
            : (CheckOutcome.Fail(CheckKind.Signature, FailureReason.ContentMismatch, $"the digest of {what} is not the one signed: the document is not the one signed"), null);
    }

    private sealed record Shape(Failure? Failure, string? Uri, ImmutableArray<string> Transforms, string SignatureMethod, string DigestMethod);

    /// <summary>The parts of the signature read from the DOM before SignedXml sees them, each refusal with its own reason.</summary>
    private static Shape CheckShape(XmlElement signature)
    {
        Shape Refuse(FailureReason reason, string detail, string? uri = null) => new(Fail(reason, detail), uri, [], "", "");

        var signedInfo = One(signature, "SignedInfo");
        if (signedInfo is null)
        {
            return Refuse(FailureReason.MalformedSignature, "the ds:Signature has no (or more than one) ds:SignedInfo");
        }

        var canonicalisation = One(signedInfo, "CanonicalizationMethod")?.GetAttribute("Algorithm") ?? "";
        if (!CanonicalisationTransforms.Contains(canonicalisation))
        {
            return Refuse(FailureReason.ForbiddenTransform, $"SignedInfo canonicalisation '{canonicalisation}' is not C14N or exclusive C14N");
        }

        var signatureMethod = One(signedInfo, "SignatureMethod")?.GetAttribute("Algorithm") ?? "";
        if (!SignatureMethods.ContainsKey(signatureMethod))
        {
            return Refuse(FailureReason.MalformedSignature, $"signature method '{signatureMethod}' is not accepted (rsa-sha256/384/512)");
        }

        var references = Children(signedInfo, "Reference").ToList();
        if (references.Count != 1)
        {
            return Refuse(FailureReason.MalformedSignature, $"{references.Count} references in SignedInfo (exactly one expected: the signed element)");
        }

        var reference = references[0];
        var uriAttribute = reference.GetAttributeNode("URI");
        if (uriAttribute is null)
        {
            return Refuse(FailureReason.ExternalReference, "the reference has no URI (the data would have to come from outside the document)");
        }

        var uri = uriAttribute.Value;
        if (uri.Length > 0 && !(uri.StartsWith('#') && IsNcName(uri[1..])))
        {
            return Refuse(FailureReason.ExternalReference, $"reference URI '{uri}' is not \"\" or a same-document #id", uri);
        }

        var transforms = Children(reference, "Transforms").SelectMany(t => Children(t, "Transform")).Select(t => t.GetAttribute("Algorithm")).ToImmutableArray();
        foreach (var transform in transforms)
        {
            if (transform != SignedXml.XmlDsigEnvelopedSignatureTransformUrl && !CanonicalisationTransforms.Contains(transform))
            {
                var name = transform == SignedXml.XmlDsigXsltTransformUrl ? "XSLT" : transform == SignedXml.XmlDsigXPathTransformUrl ? "XPath" : $"'{transform}'";
                return Refuse(FailureReason.ForbiddenTransform, $"the reference uses the {name} transform (only C14N, exclusive C14N and enveloped-signature are accepted)", uri);
            }
        }

        var digestMethod = One(reference, "DigestMethod")?.GetAttribute("Algorithm") ?? "";
        if (!DigestMethods.ContainsKey(digestMethod))
        {
            return Refuse(FailureReason.MalformedSignature, $"digest method '{digestMethod}' is not accepted (SHA-256/384/512)", uri);
        }

        return new Shape(null, uri, transforms, signatureMethod, digestMethod);
    }

    /// <summary>
    /// Recomputes the reference's digest as SignedXml computes it when signing: a copy of the
    /// document without the ds:Signature (what the enveloped-signature transform removes, and
    /// outside a detached target anyway), the same URI, transforms and digest method.
    /// </summary>
    private static bool DigestMatches(XmlDocument document, Reference original)
    {
        var copy = new XmlDocument { PreserveWhitespace = true, XmlResolver = null };
        copy.AppendChild(copy.ImportNode(document.DocumentElement!, deep: true));
        foreach (var signature in copy.GetElementsByTagName("Signature", Dsig).OfType<XmlElement>().ToList())
        {
            signature.ParentNode!.RemoveChild(signature);
        }

        var reference = new Reference(original.Uri ?? "") { DigestMethod = original.DigestMethod };
        for (var i = 0; i < original.TransformChain.Count; i++)
        {
            var transform = original.TransformChain[i];
            reference.AddTransform(transform switch
            {
                XmlDsigExcC14NTransform exclusive => new XmlDsigExcC14NTransform(transform.Algorithm == SignedXml.XmlDsigExcC14NWithCommentsTransformUrl, exclusive.InclusiveNamespacesPrefixList),
                XmlDsigC14NTransform => new XmlDsigC14NTransform(transform.Algorithm == SignedXml.XmlDsigC14NWithCommentsTransformUrl),
                _ => new XmlDsigEnvelopedSignatureTransform(),
            });
        }

        using var throwaway = RSA.Create(2048);
        var signer = new SignedXml(copy) { SigningKey = throwaway };
        signer.AddReference(reference);
        try
        {
            signer.ComputeSignature();
        }
        catch (CryptographicException)
        {
            return false;
        }

        return original.DigestValue is { } expected && CryptographicOperations.FixedTimeEquals(expected, reference.DigestValue);
    }

    /// <summary>The one ds: child of that name, or null when there is none or more than one (hostile input never throws).</summary>
    private static XmlElement? One(XmlElement parent, string localName)
    {
        var found = Children(parent, localName).Take(2).ToList();
        return found.Count == 1 ? found[0] : null;
    }

    private static IEnumerable<XmlElement> Children(XmlElement parent, string localName) =>
        parent.ChildNodes.OfType<XmlElement>().Where(e => e.LocalName == localName && e.NamespaceURI == Dsig);

    private static string TransformName(string algorithm) => algorithm switch
    {
        SignedXml.XmlDsigEnvelopedSignatureTransformUrl => "enveloped-signature",
        SignedXml.XmlDsigC14NTransformUrl => "C14N",
        SignedXml.XmlDsigC14NWithCommentsTransformUrl => "C14N with comments",
        SignedXml.XmlDsigExcC14NTransformUrl => "exclusive C14N",
        SignedXml.XmlDsigExcC14NWithCommentsTransformUrl => "exclusive C14N with comments",
        _ => algorithm,
    };

    private static bool IsNcName(string value)
    {
        try
        {
            return value.Length > 0 && XmlConvert.VerifyNCName(value) == value;
        }
        catch (XmlException)
        {
            return false;
        }
    }

    private static byte[]? DecodeBase64(string? text)
    {
        if (text is null)
        {
            return null;
        }

        try
        {
            return Convert.FromBase64String(string.Concat(text.Where(c => !char.IsWhiteSpace(c))));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static string Serial(BcCertificate certificate) => certificate.SerialNumber.ToString(16).ToUpperInvariant();
}
