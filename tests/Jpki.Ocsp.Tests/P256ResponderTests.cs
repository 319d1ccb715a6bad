using Jpki.Core.Configuration;
using Org.BouncyCastle.X509;

namespace Jpki.Ocsp.Tests;

/// <summary>
/// <c>ceremony.responderKey = p256</c>: the fixture's second install has delegated responders on
/// P-256 keys in the HSM. Its answers are ECDSA-signed and verified by openssl against the root
/// (delegated responder issued by the issuer key) and by GnuTLS's ocsptool.
/// </summary>
[Collection(OcspTestGroup.Name)]
public sealed class P256ResponderTests(OcspFixture fixture)
{
    [Fact]
    public async Task Answers_of_a_P256_delegated_responder_verify_with_openssl_and_ocsptool()
    {
        var loaded = JpkiSettings.Load(fixture.P256Home);
        Assert.Equal("p256", loaded.Ceremony.ResponderKey);
        var settings = loaded with
        {
            Hsm = loaded.Hsm with { TokenLabel = fixture.P256TokenLabel },
            Ocsp = loaded.Ocsp with { AllowedNetworks = ["127.0.0.0/8"], MutualTls = null },
        };
        await using var responder = OcspHost.Build(settings, fixture.Module, new OcspOptions { ListenUrl = "http://127.0.0.1:0" });
        await responder.StartAsync();
        var url = responder.Urls.Single().TrimEnd('/') + "/ocsp";
        var certs = Path.Combine(fixture.P256Home, "certs");
        var keyIds = Directory.GetFiles(certs, "*-ocsp.pem").Select(p => Path.GetFileName(p)[..^"-ocsp.pem".Length]).ToList();
        Assert.Equal(2, keyIds.Count); // signing and authentication issuer keys

        foreach (var keyId in keyIds)
        {
            var root = Path.Combine(certs, keyId + ".pem");
            var responderPem = Path.Combine(certs, keyId + "-ocsp.pem");
            var responderCertificate = new X509CertificateParser().ReadCertificate(File.ReadAllBytes(responderPem));
            Assert.Equal("1.2.840.10045.2.1", responderCertificate.SubjectPublicKeyInfo.Algorithm.Algorithm.Id); // id-ecPublicKey

            // The responder certificate is itself a certificate of the issuer key, 'good' in the store.
            var (exitCode, output) = await ExternalProcess.RunAsync("openssl", "ocsp", "-issuer", root, "-cert", responderPem, "-url", url, "-CAfile", root, "-no_nonce", "-resp_text");
            Assert.True(exitCode == 0, output);
            Assert.Contains("Response verify OK", output, StringComparison.Ordinal);
            Assert.Contains($"{responderPem}: good", output, StringComparison.Ordinal);
            Assert.Contains("Signature Algorithm: ecdsa-with-SHA256", output, StringComparison.Ordinal);

            var unknown = await ExternalProcess.RunAsync("openssl", "ocsp", "-issuer", root, "-serial", "0x7E57AB1E", "-url", url, "-CAfile", root, "-no_nonce");
            Assert.Contains("Response verify OK", unknown.Output, StringComparison.Ordinal);
            Assert.Contains("0x7E57AB1E: unknown", unknown.Output, StringComparison.Ordinal);

            var gnutls = await ExternalProcess.RunAsync("ocsptool", "--ask=" + url, "--load-issuer", root, "--load-cert", responderPem, "--load-trust", root);
            Assert.True(gnutls.ExitCode == 0, gnutls.Output);
            Assert.Contains("Verifying OCSP Response: Success", gnutls.Output, StringComparison.Ordinal);
            Assert.Contains("Certificate Status: good", gnutls.Output, StringComparison.Ordinal);
        }

        await responder.StopAsync();
    }
}
