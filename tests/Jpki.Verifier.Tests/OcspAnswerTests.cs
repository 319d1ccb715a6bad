using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;

namespace Jpki.Verifier.Tests;

/// <summary>
/// OCSP answers the verifier must not believe, served by a stand-in on 127.0.0.1: a genuine answer
/// of the real responder replayed to another request (another nonce), and an answer signed by a
/// responder another CA certified.
/// </summary>
[Collection(VerifierGroup.Name)]
public sealed class OcspAnswerTests(VerifierFixture install) : IAsyncLifetime
{
    private WebApplication? standIn;
    private byte[] answer = [];
    private Uri standInUrl = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        standIn = builder.Build();
        standIn.MapPost("/ocsp", () => Results.Bytes(answer, "application/ocsp-response"));
        await standIn.StartAsync();
        standInUrl = new Uri(standIn.Urls.Single().TrimEnd('/') + "/ocsp");
    }

    public async Task DisposeAsync()
    {
        if (standIn is not null)
        {
            await standIn.StopAsync();
            await standIn.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_genuine_answer_replayed_to_another_request_is_refused_for_its_nonce()
    {
        var signed = await install.SignAsync();
        var certificate = new X509CertificateParser().ReadCertificate(VerifierFixture.PemToDer(signed.CertificatePem));
        var issuer = Issuer(certificate);

        // A genuine answer, with a nonce of its own, from the real responder.
        var generator = new OcspReqGenerator();
        generator.AddRequest(new CertificateID(CertificateID.DigestSha1, issuer, certificate.SerialNumber));
        var extensions = new X509ExtensionsGenerator();
        extensions.AddExtension(OcspObjectIdentifiers.PkixOcspNonce, false, new DerOctetString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
        generator.SetRequestExtensions(extensions.Generate());
        using var request = new HttpRequestMessage(HttpMethod.Post, install.OcspUrl) { Content = new ByteArrayContent(generator.Generate().GetEncoded()) };
        request.Content.Headers.ContentType = new("application/ocsp-request");
        request.Headers.Authorization = new("Bearer", install.VerifierToken);
        using var response = await install.Ca.Http.SendAsync(request);
        answer = await response.Content.ReadAsByteArrayAsync();
        Assert.NotNull(((BasicOcspResp)new OcspResp(answer).GetResponseObject()).GetExtensionValue(OcspObjectIdentifiers.PkixOcspNonce));

        var result = await SignatureVerifier.VerifyAsync(signed.Content, signed.Signature, install.Options(new RevocationSource.Ocsp(standInUrl, null)));
        Assert.Equal(FailureReason.RevocationUnavailable, result.FirstFailure!.Reason);
        Assert.Contains("another nonce", result[CheckKind.Revocation].Detail, StringComparison.Ordinal);

        // The same signature through the real responder is good: the refusal was the replay's.
        var direct = await SignatureVerifier.VerifyAsync(signed.Content, signed.Signature, install.Options(install.Ocsp));
        Assert.True(direct.IsValid, string.Join("\n", direct.Checks));
    }

    [Fact]
    public async Task An_answer_signed_by_a_responder_of_another_CA_is_refused()
    {
        var signed = await install.SignAsync();
        var certificate = new X509CertificateParser().ReadCertificate(VerifierFixture.PemToDer(signed.CertificatePem));
        var issuer = Issuer(certificate);

        // A responder certificate with id-kp-OCSPSigning and the issuer's name, from another key.
        var random = new SecureRandom();
        var keys = new RsaKeyPairGenerator();
        keys.Init(new Org.BouncyCastle.Crypto.KeyGenerationParameters(random, 2048));
        var caKey = keys.GenerateKeyPair();
        var responderKey = keys.GenerateKeyPair();
        var responder = new X509V3CertificateGenerator();
        responder.SetSerialNumber(BigInteger.ValueOf(7));
        responder.SetIssuerDN(issuer.SubjectDN);
        responder.SetSubjectDN(new X509Name("C=JP, CN=forged responder"));
        responder.SetNotBefore(DateTime.UtcNow.AddDays(-1));
        responder.SetNotAfter(DateTime.UtcNow.AddDays(30));
        responder.SetPublicKey(responderKey.Public);
        responder.AddExtension(X509Extensions.ExtendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeID.id_kp_OCSPSigning));
        var responderCertificate = responder.Generate(new Asn1SignatureFactory("SHA256WITHRSA", caKey.Private));

        var basic = new BasicOcspRespGenerator(new RespID(responderKey.Public));
        basic.AddResponse(new CertificateID(CertificateID.DigestSha1, issuer, certificate.SerialNumber), CertificateStatus.Good, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddMinutes(14), null);
        var signedAnswer = basic.Generate(new Asn1SignatureFactory("SHA256WITHRSA", responderKey.Private), [responderCertificate], DateTime.UtcNow);
        answer = new OCSPRespGenerator().Generate(OcspRespStatus.Successful, signedAnswer).GetEncoded();

        var result = await SignatureVerifier.VerifyAsync(signed.Content, signed.Signature, install.Options(new RevocationSource.Ocsp(standInUrl, null)));
        Assert.Equal(FailureReason.RevocationUnavailable, result.FirstFailure!.Reason);
        Assert.Contains("not issued by the signer's issuer key", result[CheckKind.Revocation].Detail, StringComparison.Ordinal);
        var cli = install.RunVerify("--in", signed.DocumentPath, "--sig", signed.SignaturePath, "--ocsp", standInUrl.ToString());
        Assert.True(cli.ExitCode == 32, cli.Stdout + cli.Stderr);
    }

    private X509Certificate Issuer(X509Certificate certificate) =>
        TrustAnchors.FromDirectory(install.RootsDirectory).Single(r => r.SubjectDN.Equivalent(certificate.IssuerDN));
}
