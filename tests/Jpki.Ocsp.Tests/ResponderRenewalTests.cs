using Jpki.Core.Issuers;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;

namespace Jpki.Ocsp.Tests;

[Collection(OcspTestGroup.Name)]
public sealed class ResponderRenewalTests(OcspFixture fixture)
{
    [Fact]
    public void A_responder_certificate_is_due_at_60_of_its_90_days()
    {
        var renewal = fixture.Renewal(TimeSpan.FromDays(fixture.Settings.Ceremony.ResponderRenewAfterDays));
        var notBefore = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal(60, fixture.Settings.Ceremony.ResponderRenewAfterDays);
        Assert.False(renewal.IsDue(notBefore, notBefore.AddDays(60).AddSeconds(-1)));
        Assert.True(renewal.IsDue(notBefore, notBefore.AddDays(60)));
    }

    [Fact]
    public async Task A_renewed_responder_certificate_signs_the_answers_after_the_responder_re_reads_the_store()
    {
        var keyId = fixture.AuthenticationKeyId;
        using var db = fixture.Database.OpenConnection();
        var issuerDer = IssuerStore.FindKey(db, keyId)!.CertificateDer!;
        var before = IssuerStore.FindCurrentResponder(db, keyId)!;

        // A fresh responder is not due under the 60-day rule: nothing happens.
        Assert.Null(fixture.Renewal(TimeSpan.FromDays(60)).RenewIfDue(keyId, issuerDer, fixture.IssuerSigner(keyId)));
        Assert.Equal(before.Serial, IssuerStore.FindCurrentResponder(db, keyId)!.Serial);

        var renewed = fixture.Renewal(TimeSpan.Zero).RenewIfDue(keyId, issuerDer, fixture.IssuerSigner(keyId));
        Assert.NotNull(renewed);
        var current = IssuerStore.FindCurrentResponder(db, keyId)!;
        Assert.Equal(renewed, current.Serial);
        Assert.NotEqual(before.HsmKeyLabel, current.HsmKeyLabel);
        Assert.Equal(1, fixture.Count("SELECT COUNT(*) FROM audit_log WHERE action = 'ocsp-responder.renewed' AND subject = @keyId", new { keyId }));

        var certificate = new X509Certificate(current.CertificateDer);
        certificate.Verify(new X509Certificate(issuerDer).GetPublicKey());
        Assert.Contains(KeyPurposeID.id_kp_OCSPSigning.Id, certificate.GetExtendedKeyUsage().Select(o => o.Id));
        Assert.NotNull(certificate.GetExtensionValue(OcspObjectIdentifiers.PkixOcspNocheck));

        fixture.Directory.Reload();
        var (serial, pem) = fixture.Issue(keyId, "authentication");
        var (_, body) = await OcspTestClient.PostAsync(
            fixture.Http, fixture.Address, OcspTestClient.Request(new X509Certificate(issuerDer), new BigInteger(serial, 16)), fixture.Tokens[OcspFixture.Verifier]);
        var included = Assert.Single(OcspTestClient.Basic(body).GetCerts());
        Assert.Equal(current.CertificateDer, included.GetEncoded());

        var root = fixture.RootPemPath(keyId);
        var (exit, output) = await ExternalProcess.RunAsync(
            "openssl", "ocsp", "-issuer", root, "-cert", pem, "-url", new Uri(fixture.Address, "ocsp").ToString(), "-CAfile", root,
            "-header", "Authorization=Bearer " + fixture.Tokens[OcspFixture.Verifier], "-no_nonce");
        Assert.True(exit == 0, output);
        Assert.Contains("Response verify OK", output, StringComparison.Ordinal);
    }
}
