using System.Net.Http.Headers;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.X509;

namespace Jpki.Ocsp.Tests;

/// <summary>Builds requests with BouncyCastle (an implementation independent of the responder's reader) and sends them.</summary>
public static class OcspTestClient
{
    public static byte[] Request(X509Certificate issuer, BigInteger serial, string hashAlgorithm = "1.3.14.3.2.26", byte[]? nonce = null, int copies = 1)
    {
        var generator = new OcspReqGenerator();
        for (var i = 0; i < copies; i++)
        {
#pragma warning disable CS0618 // Its replacement is not in 2.7.0; this one computes the CertID independently of the responder, which is the point.
            generator.AddRequest(new CertificateID(hashAlgorithm, issuer, serial));
#pragma warning restore CS0618
        }

        if (nonce is not null)
        {
            generator.SetRequestExtensions(new X509Extensions(new Dictionary<DerObjectIdentifier, X509Extension>
            {
                [OcspObjectIdentifiers.PkixOcspNonce] = new(false, new DerOctetString(new DerOctetString(nonce))),
            }));
        }

        return generator.Generate().GetEncoded();
    }

    public static async Task<(HttpResponseMessage Response, byte[] Body)> PostAsync(HttpClient http, Uri address, byte[] request, string? token)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, new Uri(address, "ocsp"));
        message.Content = new ByteArrayContent(request);
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/ocsp-request");
        if (token is not null)
        {
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        var response = await http.SendAsync(message);
        return (response, await response.Content.ReadAsByteArrayAsync());
    }

    public static async Task<(HttpResponseMessage Response, byte[] Body)> GetAsync(HttpClient http, Uri address, string encodedPath, string? token)
    {
        // dontEscape-style: the path goes out exactly as given (UriCreationOptions keeps '%2B', '+' and '//').
        var uri = new Uri(address.GetLeftPart(UriPartial.Authority) + "/ocsp/" + encodedPath, new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        using var message = new HttpRequestMessage(HttpMethod.Get, uri);
        if (token is not null)
        {
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        var response = await http.SendAsync(message);
        return (response, await response.Content.ReadAsByteArrayAsync());
    }

    /// <summary>The OCSP response status (RFC 6960 §4.2.1).</summary>
    public static int Status(byte[] body) => new OcspResp(body).Status;

    public static BasicOcspResp Basic(byte[] body) => (BasicOcspResp)new OcspResp(body).GetResponseObject();
}
