using System.Text;
using System.Xml;
using Org.BouncyCastle.X509;

namespace Jpki.Verifier.Service;

/// <summary>
/// The body of <c>POST /api/v1/verify</c> (JSON): <c>type</c> <c>cms</c> (<c>document</c>, <c>signature</c>),
/// <c>xml</c> (<c>document</c>, optional <c>element</c> <c>{namespace}Name</c> and <c>certificate</c>) or
/// <c>auth</c> (<c>challenge</c> as the JSON text the service issued, <c>signature</c>, <c>certificate</c>).
/// Binary fields are base64; a certificate is base64 DER or PEM text.
/// </summary>
public sealed record VerifyRequest(string? Type, string? Document, string? Signature, string? Element, string? Certificate, string? Challenge);

/// <summary>A request the service cannot verify, said as an RFC 7807 problem (400).</summary>
public sealed class VerifyRequestException(string message) : Exception(message);

/// <summary>Reads the fields of a <see cref="VerifyRequest"/>; each failure names its field.</summary>
internal static class RequestFields
{
    public static byte[] Base64(string? value, string field) =>
        value is null ? throw new VerifyRequestException($"'{field}' is required (base64)")
        : TryBase64(value) ?? throw new VerifyRequestException($"'{field}' is not base64");

    public static X509Certificate? OptionalCertificate(string? value, string field)
    {
        if (value is null)
        {
            return null;
        }

        var bytes = value.TrimStart().StartsWith("-----BEGIN", StringComparison.Ordinal) ? Encoding.ASCII.GetBytes(value) : Base64(value, field);
        try
        {
            var certificates = TrustAnchors.ReadCertificates(bytes);
            return certificates.Count == 1 ? certificates[0] : throw new VerifyRequestException($"'{field}' does not hold one certificate");
        }
        catch (Exception e) when (e is ArgumentException or IOException or InvalidCastException or Org.BouncyCastle.Security.Certificates.CertificateException)
        {
            throw new VerifyRequestException($"'{field}' is not a certificate (base64 DER or PEM)");
        }
    }

    public static XmlQualifiedName? Element(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var (ns, local) = text.StartsWith('{') && text.IndexOf('}', StringComparison.Ordinal) is > 0 and var close
            ? (text[1..close], text[(close + 1)..])
            : ("", text);
        try
        {
            return new XmlQualifiedName(XmlConvert.VerifyNCName(local), ns);
        }
        catch (XmlException)
        {
            throw new VerifyRequestException($"'element' {text} is not NAME or {{namespace}}NAME");
        }
    }

    private static byte[]? TryBase64(string value)
    {
        var buffer = new byte[(value.Length * 3 / 4) + 3];
        return Convert.TryFromBase64String(value, buffer, out var written) ? buffer[..written] : null;
    }
}
