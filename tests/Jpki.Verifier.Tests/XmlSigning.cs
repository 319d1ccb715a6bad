using System.Text;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.OpenSsl;
using Org.BouncyCastle.X509;

namespace Jpki.Verifier.Tests;

/// <summary>
/// XML documents signed by xmlsec1 (an outside XML-DSig implementation, not .NET's), from
/// templates: xmlsec1 fills in the digest, the signature value and the X509Data.
/// </summary>
public sealed class XmlSigning(string work)
{
    public const string Namespace = "urn:example:e-filing";
    public const string ExclusiveC14N = "http://www.w3.org/2001/10/xml-exc-c14n#";
    public const string Enveloped = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
    public const string Xslt = "http://www.w3.org/TR/1999/REC-xslt-19991116";

    /// <summary>An e-filing return whose document element carries the signature (reference "", enveloped).</summary>
    public static string EnvelopedTemplate(string amount = "120000") => $"""
        <?xml version="1.0" encoding="UTF-8"?>
        <Return xmlns="{Namespace}" Id="return-1">
          <Filer>山田　花子</Filer>
          <Amount>{amount}</Amount>
        {SignatureTemplate("", $"""<ds:Transform Algorithm="{Enveloped}"/><ds:Transform Algorithm="{ExclusiveC14N}"/>""")}
        </Return>
        """;

    /// <summary>A filing with the return and the signature side by side (reference "#return-1": detached in the same document).</summary>
    public static string DetachedTemplate(string amount = "120000") => $"""
        <?xml version="1.0" encoding="UTF-8"?>
        <Filing xmlns="{Namespace}">
          <Return Id="return-1">
            <Filer>山田　花子</Filer>
            <Amount>{amount}</Amount>
          </Return>
        {SignatureTemplate("#return-1", $"""<ds:Transform Algorithm="{ExclusiveC14N}"/>""")}
        </Filing>
        """;

    public static string SignatureTemplate(string uri, string transforms) => $"""
          <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
            <ds:SignedInfo>
              <ds:CanonicalizationMethod Algorithm="{ExclusiveC14N}"/>
              <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
              <ds:Reference URI="{uri}">
                <ds:Transforms>{transforms}</ds:Transforms>
                <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
                <ds:DigestValue/>
              </ds:Reference>
            </ds:SignedInfo>
            <ds:SignatureValue/>
            <ds:KeyInfo><ds:X509Data/></ds:KeyInfo>
          </ds:Signature>
        """;

    /// <summary>Signs <paramref name="template"/> with xmlsec1 (the Id attribute of &lt;Return&gt; declared as an id); the signed document's path.</summary>
    public string Sign(string name, string template, string privateKeyPem, string certificatePem, params string[] extra)
    {
        Directory.CreateDirectory(work);
        var templatePath = Path.Combine(work, name + ".template.xml");
        var keyPath = Path.Combine(work, name + ".key.pem");
        var certificatePath = Path.Combine(work, name + ".cert.pem");
        var output = Path.Combine(work, name + ".xml");
        File.WriteAllText(templatePath, template, new UTF8Encoding(false));
        File.WriteAllText(keyPath, privateKeyPem);
        File.WriteAllText(certificatePath, certificatePem);
        var result = ExternalProcess.RunWith("xmlsec1", ["--sign", "--privkey-pem", keyPath + "," + certificatePath, "--id-attr:Id", Namespace + ":Return", .. extra, "--output", output, templatePath]);
        Assert.True(result.ExitCode == 0, "xmlsec1 --sign: " + result);
        File.Delete(keyPath);
        return output;
    }

    /// <summary>xmlsec1's own verdict on a signed document (the independent check).</summary>
    public static ProcessResult XmlsecVerify(string path, string trustedPem, params string[] extra) =>
        ExternalProcess.RunWith("xmlsec1", ["--verify", "--trusted-pem", trustedPem, "--id-attr:Id", Namespace + ":Return", .. extra, path]);

    /// <summary>A BouncyCastle key as PEM (for xmlsec1).</summary>
    public static string Pem(AsymmetricKeyParameter privateKey) => Pem((object)privateKey);

    public static string Pem(X509Certificate certificate) => Pem((object)certificate);

    private static string Pem(object value)
    {
        using var text = new StringWriter();
        var writer = new PemWriter(text);
        writer.WriteObject(value);
        writer.Writer.Flush();
        return text.ToString();
    }
}
