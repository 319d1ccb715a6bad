using System.Security.Cryptography.X509Certificates;
using System.Security.Cryptography.Xml;
using System.Text;
using System.Xml;
using Org.BouncyCastle.Asn1.X509;
using BcCertificate = Org.BouncyCastle.X509.X509Certificate;

namespace Jpki.Verifier.Tests;

/// <summary>
/// XML-DSig signatures made by xmlsec1 with a key whose certificate a software CA issued (the
/// trusted root here), and each classic attack on them. No install: revocation is not
/// configured, so a good signature ends at RevocationUnknown (exit 31) and every refusal of the
/// signature itself comes first with its own reason and exit code.
/// </summary>
public sealed class XmlSignatureTests : IDisposable
{
    private const string Dsig = SignedXml.XmlDsigNamespaceUrl;
    private static readonly XmlQualifiedName Return = new("Return", XmlSigning.Namespace);

    private readonly DirectoryInfo work = Directory.CreateTempSubdirectory("jpki-xml-");
    private readonly SoftwareCa ca = new(new X509Name("C=JP, O=JPKI, OU=JPKI for digital signature, OU=Test-ken"));
    private readonly BcCertificate certificate;
    private readonly string keyPem;
    private readonly XmlSigning signing;
    private readonly string rootsDirectory;

    public XmlSignatureTests()
    {
        var (issued, key) = ca.Issue(new LeafProfile());
        certificate = issued;
        keyPem = XmlSigning.Pem(key.Private);
        signing = new XmlSigning(work.FullName);
        rootsDirectory = work.CreateSubdirectory("roots").FullName;
        File.WriteAllText(Path.Combine(rootsDirectory, "root.pem"), XmlSigning.Pem(ca.Root));
    }

    public void Dispose() => work.Delete(recursive: true);

    private string Sign(string name, string template, params string[] extra) => signing.Sign(name, template, keyPem, XmlSigning.Pem(certificate), extra);

    private Task<XmlVerificationResult> VerifyAsync(string path, XmlSignatureOptions? options = null) =>
        XmlSignatureVerifier.VerifyAsync(File.ReadAllBytes(path), new VerifierOptions { Roots = [ca.Root] }, options);

    private ProcessResult Cli(params string[] arguments) =>
        ExternalProcess.RunWith("dotnet", [TestInstall.BuiltToolPath("verifier", "Jpki.Verifier.Cli"), "verify", .. arguments, "--roots", rootsDirectory]);

    private string Write(string name, XmlDocument document)
    {
        var path = Path.Combine(work.FullName, name + ".xml");
        File.WriteAllText(path, document.OuterXml, new UTF8Encoding(false));
        return path;
    }

    private static XmlDocument Load(string path)
    {
        var document = new XmlDocument { PreserveWhitespace = true };
        document.Load(path);
        return document;
    }

    private static XmlNamespaceManager Names(XmlDocument document)
    {
        var names = new XmlNamespaceManager(document.NameTable);
        names.AddNamespace("ds", Dsig);
        names.AddNamespace("f", XmlSigning.Namespace);
        return names;
    }

    private static void AssertSignatureFails(XmlVerificationResult result, FailureReason reason, string detail)
    {
        Assert.Equal(reason, result.Verification.FirstFailure!.Reason);
        Assert.Equal(CheckKind.Signature, result.Verification.FirstFailure.Check);
        Assert.Contains(detail, result.Verification.FirstFailure.Detail, StringComparison.Ordinal);
        Assert.False(result.Verification.SignatureValid);
        Assert.Null(result.SignedElement);
    }

    [Fact]
    public async Task Enveloped_and_detached_signatures_made_by_xmlsec1_pass_and_name_the_element_they_cover()
    {
        var enveloped = Sign("enveloped", XmlSigning.EnvelopedTemplate());
        var result = await VerifyAsync(enveloped);
        Assert.True(result.Verification.SignatureValid, result.Verification[CheckKind.Signature].Detail);
        Assert.All(new[] { CheckKind.Signature, CheckKind.Chain, CheckKind.Validity, CheckKind.KeyUsage, CheckKind.Policy, CheckKind.SignerFacts }, kind =>
            Assert.Equal(CheckStatus.Passed, result.Verification[kind].Status));
        Assert.Equal(FailureReason.RevocationUnknown, result.Verification.FirstFailure!.Reason);
        Assert.Equal("鈴木　一郎", result.Verification.Facts!.Name);
        Assert.Same(result.Document!.DocumentElement, result.SignedElement);
        Assert.Equal("", result.ReferenceUri);
        Assert.Contains("enveloped-signature, exclusive C14N", result.Verification[CheckKind.Signature].Detail, StringComparison.Ordinal);

        // xmlsec1 agrees the signature is good (independent implementation).
        var xmlsec = XmlSigning.XmlsecVerify(enveloped, Path.Combine(rootsDirectory, "root.pem"));
        Assert.True(xmlsec.ExitCode == 0, xmlsec.ToString());

        var detached = Sign("detached", XmlSigning.DetachedTemplate());
        var covered = await VerifyAsync(detached, new XmlSignatureOptions { SignedElement = Return });
        Assert.True(covered.Verification.SignatureValid, covered.Verification[CheckKind.Signature].Detail);
        Assert.Equal("Return", covered.SignedElement!.LocalName);
        Assert.Equal("120000", covered.SignedElement["Amount", XmlSigning.Namespace]!.InnerText);

        var cli = Cli("--xml", detached, "--element", "{urn:example:e-filing}Return");
        Assert.True(cli.ExitCode == 31, cli.ToString());
        Assert.Contains("signature    ok: XML-DSig rsa-sha256", cli.Stdout, StringComparison.Ordinal);
        Assert.Contains("signed element   <Return> in urn:example:e-filing, reference \"#return-1\"", cli.Stdout, StringComparison.Ordinal);

        // The same detached signature, read as if the application processed the whole filing.
        AssertSignatureFails(await VerifyAsync(detached), FailureReason.SignatureWrapping, "not the processed <Filing>");
    }

    [Fact]
    public async Task A_changed_amount_is_a_content_mismatch_and_a_changed_signature_value_a_bad_signature()
    {
        var signed = Sign("amount", XmlSigning.EnvelopedTemplate());
        var changed = Path.Combine(work.FullName, "amount-changed.xml");
        File.WriteAllText(changed, File.ReadAllText(signed).Replace("<Amount>120000</Amount>", "<Amount>1200</Amount>", StringComparison.Ordinal));
        AssertSignatureFails(await VerifyAsync(changed), FailureReason.ContentMismatch, "is not the one signed");
        var cli = Cli("--xml", changed);
        Assert.True(cli.ExitCode == 13, cli.ToString());
        Assert.Contains("the document does not match the signature", cli.Stderr, StringComparison.Ordinal);

        var document = Load(signed);
        var value = document.SelectSingleNode("//ds:SignatureValue", Names(document))!;
        var bytes = Convert.FromBase64String(value.InnerText);
        bytes[^1] ^= 0x01;
        value.InnerText = Convert.ToBase64String(bytes);
        var tampered = Write("signature-changed", document);
        AssertSignatureFails(await VerifyAsync(tampered), FailureReason.BadSignature, "does not verify");
        cli = Cli("--xml", tampered);
        Assert.True(cli.ExitCode == 12, cli.ToString());
    }

    [Fact]
    public async Task Signature_wrapping_is_refused_though_the_moved_original_still_verifies()
    {
        // Detached: the signed return moved into the signature's ds:Object, a forged one where the application reads.
        var detached = Load(Sign("wrap-detached", XmlSigning.DetachedTemplate()));
        var names = Names(detached);
        var original = (XmlElement)detached.SelectSingleNode("//f:Return", names)!;
        var signature = (XmlElement)detached.SelectSingleNode("//ds:Signature", names)!;
        var forged = (XmlElement)original.CloneNode(deep: true);
        forged["Amount", XmlSigning.Namespace]!.InnerText = "1";
        forged.SetAttribute("Id", "return-2");
        original.ParentNode!.ReplaceChild(forged, original);
        var holder = detached.CreateElement("ds", "Object", Dsig);
        holder.AppendChild(original);
        signature.AppendChild(holder);
        var wrapped = Write("wrapped-detached", detached);

        // .NET's SignedXml on its own accepts it: the digest of #return-1 is still right.
        Assert.True(SignedXmlAlone(wrapped));
        AssertSignatureFails(await VerifyAsync(wrapped, new XmlSignatureOptions { SignedElement = Return }), FailureReason.SignatureWrapping, "the document has 2 <Return> elements");
        var cli = Cli("--xml", wrapped, "--element", "{urn:example:e-filing}Return");
        Assert.True(cli.ExitCode == 23, cli.ToString());
        Assert.Contains("signature wrapping", cli.Stderr, StringComparison.Ordinal);

        // The forged copy takes the original's id: the id names two elements.
        forged.SetAttribute("Id", "return-1");
        AssertSignatureFails(await VerifyAsync(Write("wrapped-same-id", detached), new XmlSignatureOptions { SignedElement = Return }), FailureReason.SignatureWrapping, "the id 'return-1' names 2 elements");

        // Enveloped by id: a forged document element around the signature, the original inside its ds:Object.
        var byId = Load(Sign("wrap-enveloped", XmlSigning.EnvelopedTemplate().Replace("<ds:Reference URI=\"\">", "<ds:Reference URI=\"#return-1\">", StringComparison.Ordinal)));
        var signedRoot = byId.DocumentElement!;
        var envelopedSignature = (XmlElement)byId.SelectSingleNode("//ds:Signature", Names(byId))!;
        var forgedRoot = (XmlElement)signedRoot.CloneNode(deep: false);
        forgedRoot.SetAttribute("Id", "forged");
        forgedRoot.InnerXml = $"<Filer xmlns=\"{XmlSigning.Namespace}\">山田　花子</Filer><Amount xmlns=\"{XmlSigning.Namespace}\">1</Amount>";
        signedRoot.RemoveChild(envelopedSignature);
        byId.ReplaceChild(forgedRoot, signedRoot);
        forgedRoot.AppendChild(envelopedSignature);
        var envelopedHolder = byId.CreateElement("ds", "Object", Dsig);
        envelopedHolder.AppendChild(signedRoot);
        envelopedSignature.AppendChild(envelopedHolder);
        var wrappedRoot = Write("wrapped-enveloped", byId);
        Assert.True(SignedXmlAlone(wrappedRoot));
        AssertSignatureFails(await VerifyAsync(wrappedRoot), FailureReason.SignatureWrapping, "inside the ds:Signature itself");
    }

    [Fact]
    public async Task A_valid_signature_over_an_external_reference_is_refused()
    {
        var data = Path.Combine(work.FullName, "return-data.xml");
        File.WriteAllText(data, $"<Return xmlns=\"{XmlSigning.Namespace}\"><Amount>1</Amount></Return>");
        const string url = "http://example.invalid/return.xml";
        var template = XmlSigning.DetachedTemplate().Replace("URI=\"#return-1\"", $"URI=\"{url}\"", StringComparison.Ordinal);
        var signed = Sign("external", template, "--url-map:" + url, data);

        AssertSignatureFails(await VerifyAsync(signed), FailureReason.ExternalReference, $"reference URI '{url}'");
        var cli = Cli("--xml", signed);
        Assert.True(cli.ExitCode == 24, cli.ToString());
        Assert.Contains("FAILED ExternalReference", cli.Stdout, StringComparison.Ordinal);

        // A file name and an XPointer expression are not same-document ids either; no URI at all is refused too.
        foreach (var (uri, expected) in new[] { ("URI=\"return-data.xml\"", "'return-data.xml'"), ("URI=\"#xpointer(/)\"", "'#xpointer(/)'"), ("", "has no URI") })
        {
            var document = Load(signed);
            var reference = (XmlElement)document.SelectSingleNode("//ds:Reference", Names(document))!;
            reference.RemoveAttribute("URI");
            if (uri.Length > 0)
            {
                reference.SetAttribute("URI", uri[5..^1]);
            }

            AssertSignatureFails(await VerifyAsync(Write("external-variant", document)), FailureReason.ExternalReference, expected);
        }
    }

    [Fact]
    public async Task An_XSLT_transform_is_refused_though_xmlsec1_verifies_the_signature()
    {
        const string stylesheet = """<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"><xsl:output method="text"/><xsl:template match="/"><xsl:value-of select="."/></xsl:template></xsl:stylesheet>""";
        var template = XmlSigning.DetachedTemplate().Replace(
            $"<ds:Transforms><ds:Transform Algorithm=\"{XmlSigning.ExclusiveC14N}\"/></ds:Transforms>",
            $"<ds:Transforms><ds:Transform Algorithm=\"{XmlSigning.Xslt}\">{stylesheet}</ds:Transform></ds:Transforms>",
            StringComparison.Ordinal);
        var signed = Sign("xslt", template);
        var xmlsec = XmlSigning.XmlsecVerify(signed, Path.Combine(rootsDirectory, "root.pem"));
        Assert.True(xmlsec.ExitCode == 0, xmlsec.ToString());

        AssertSignatureFails(await VerifyAsync(signed, new XmlSignatureOptions { SignedElement = Return }), FailureReason.ForbiddenTransform, "the XSLT transform");
        var cli = Cli("--xml", signed, "--element", "{urn:example:e-filing}Return", "--json");
        Assert.True(cli.ExitCode == 25, cli.ToString());
        var answer = System.Text.Json.JsonDocument.Parse(cli.Stdout).RootElement;
        Assert.Equal("ForbiddenTransform", answer.GetProperty("failure").GetString());
        Assert.Equal(25, answer.GetProperty("exitCode").GetInt32());
        Assert.False(answer.GetProperty("signatureValid").GetBoolean());
    }

    [Fact]
    public async Task A_KeyInfo_naming_another_certificate_or_key_than_the_one_checked_is_refused()
    {
        var signed = Sign("keyinfo", XmlSigning.EnvelopedTemplate());
        var (stranger, strangerKey) = ca.Issue(new LeafProfile());

        // The relying party expects another filer's certificate.
        AssertSignatureFails(await VerifyAsync(signed, new XmlSignatureOptions { ExpectedCertificate = stranger }), FailureReason.KeyInfoMismatch, "not the expected");
        var strangerPem = Path.Combine(work.FullName, "stranger.pem");
        File.WriteAllText(strangerPem, XmlSigning.Pem(stranger));
        var cli = Cli("--xml", signed, "--cert", strangerPem);
        Assert.True(cli.ExitCode == 26, cli.ToString());
        Assert.Contains("KeyInfo names another certificate", cli.Stderr, StringComparison.Ordinal);

        // The right one expected: accepted (the refusal above was about the certificate, not the file).
        var signerPem = Path.Combine(work.FullName, "signer.pem");
        File.WriteAllText(signerPem, XmlSigning.Pem(certificate));
        cli = Cli("--xml", signed, "--cert", signerPem);
        Assert.True(cli.ExitCode == 31, cli.ToString());

        // A second end-entity certificate in the X509Data (KeyInfo is not signed: anyone can add one).
        var document = Load(signed);
        var data = (XmlElement)document.SelectSingleNode("//ds:X509Data", Names(document))!;
        var second = document.CreateElement("ds", "X509Certificate", Dsig);
        second.InnerText = Convert.ToBase64String(stranger.GetEncoded());
        data.AppendChild(second);
        AssertSignatureFails(await VerifyAsync(Write("two-certificates", document)), FailureReason.KeyInfoMismatch, "2 different end-entity certificates");

        // A KeyValue of another key beside the right certificate.
        document = Load(signed);
        var keyInfo = (XmlElement)document.SelectSingleNode("//ds:KeyInfo", Names(document))!;
        var rsa = (Org.BouncyCastle.Crypto.Parameters.RsaKeyParameters)strangerKey.Public;
        var keyValue = document.CreateElement("ds", "KeyValue", Dsig);
        keyValue.InnerXml = $"<ds:RSAKeyValue xmlns:ds=\"{Dsig}\"><ds:Modulus>{Convert.ToBase64String(rsa.Modulus.ToByteArrayUnsigned())}</ds:Modulus><ds:Exponent>{Convert.ToBase64String(rsa.Exponent.ToByteArrayUnsigned())}</ds:Exponent></ds:RSAKeyValue>";
        keyInfo.AppendChild(keyValue);
        AssertSignatureFails(await VerifyAsync(Write("other-key-value", document)), FailureReason.KeyInfoMismatch, "another key");

        // An issuer/serial that names another certificate.
        document = Load(signed);
        data = (XmlElement)document.SelectSingleNode("//ds:X509Data", Names(document))!;
        var issuerSerial = document.CreateElement("ds", "X509IssuerSerial", Dsig);
        issuerSerial.InnerXml = $"<ds:X509IssuerName xmlns:ds=\"{Dsig}\">{stranger.IssuerDN}</ds:X509IssuerName><ds:X509SerialNumber xmlns:ds=\"{Dsig}\">{stranger.SerialNumber}</ds:X509SerialNumber>";
        data.AppendChild(issuerSerial);
        AssertSignatureFails(await VerifyAsync(Write("other-serial", document)), FailureReason.KeyInfoMismatch, "X509IssuerSerial names serial");

        // The certificate replaced by the stranger's: the signature is checked with that key only, and fails.
        document = Load(signed);
        document.SelectSingleNode("//ds:X509Certificate", Names(document))!.InnerText = Convert.ToBase64String(stranger.GetEncoded());
        AssertSignatureFails(await VerifyAsync(Write("replaced-certificate", document)), FailureReason.BadSignature, "does not verify");
    }

    [Fact]
    public async Task A_DTD_or_entity_declaration_is_refused_before_anything_is_resolved()
    {
        var signed = File.ReadAllText(Sign("dtd", XmlSigning.EnvelopedTemplate()));
        var body = signed[(signed.IndexOf("?>", StringComparison.Ordinal) + 2)..];
        var secret = Path.Combine(work.FullName, "secret.txt");
        File.WriteAllText(secret, "secret");
        foreach (var doctype in new[]
        {
            $"<!DOCTYPE Return [<!ENTITY x SYSTEM \"file://{secret}\">]>",
            "<!DOCTYPE Return [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>",
            "<!DOCTYPE Return SYSTEM \"http://127.0.0.1:9/return.dtd\">",
        })
        {
            var path = Path.Combine(work.FullName, "dtd.xml");
            File.WriteAllText(path, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" + doctype + body);
            var result = await VerifyAsync(path);
            Assert.Equal(FailureReason.MalformedXml, result.Verification.FirstFailure!.Reason);
            Assert.Contains("a DTD (DOCTYPE) is refused", result.Verification.FirstFailure.Detail, StringComparison.Ordinal);
            Assert.Null(result.Document);
        }

        var cli = Cli("--xml", Path.Combine(work.FullName, "dtd.xml"));
        Assert.True(cli.ExitCode == 22, cli.ToString());

        var garbage = Path.Combine(work.FullName, "garbage.xml");
        File.WriteAllText(garbage, "<Return><unclosed></Return>");
        Assert.Equal(FailureReason.MalformedXml, (await VerifyAsync(garbage)).Verification.FirstFailure!.Reason);

        var unsigned = Path.Combine(work.FullName, "unsigned.xml");
        File.WriteAllText(unsigned, "<Return><Amount>1</Amount></Return>");
        var none = await VerifyAsync(unsigned);
        Assert.Equal(FailureReason.MalformedSignature, none.Verification.FirstFailure!.Reason);
        Assert.Contains("0 ds:Signature elements", none.Verification.FirstFailure.Detail, StringComparison.Ordinal);
        cli = Cli("--xml", unsigned);
        Assert.True(cli.ExitCode == 10, cli.ToString());

        // Hostile structure is a typed refusal, not an exception: a second SignedInfo.
        var document = Load(Sign("two-signed-info", XmlSigning.EnvelopedTemplate()));
        var signedInfo = document.SelectSingleNode("//ds:SignedInfo", Names(document))!;
        signedInfo.ParentNode!.InsertAfter(signedInfo.CloneNode(deep: true), signedInfo);
        var twice = await VerifyAsync(Write("two-signed-info-twice", document));
        Assert.Equal(FailureReason.MalformedSignature, twice.Verification.FirstFailure!.Reason);
        Assert.Contains("more than one) ds:SignedInfo", twice.Verification.FirstFailure.Detail, StringComparison.Ordinal);
    }

    /// <summary>What .NET's SignedXml says on its own, with the signer's key: the check this verifier adds to.</summary>
    private bool SignedXmlAlone(string path)
    {
        var document = Load(path);
        var signed = new SignedXml(document);
        signed.LoadXml((XmlElement)document.GetElementsByTagName("Signature", Dsig)[0]!);
        using var key = X509CertificateLoader.LoadCertificate(certificate.GetEncoded());
        return signed.CheckSignature(key, verifySignatureOnly: true);
    }
}
