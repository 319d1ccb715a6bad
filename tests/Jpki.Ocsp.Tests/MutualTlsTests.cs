using Jpki.Core.Revocation;

namespace Jpki.Ocsp.Tests;

/// <summary>
/// The responder's mutual-TLS listener (docs/design.md §6: client certificates of registered verifiers).
/// Requests are made by openssl (<c>ocsp -reqout</c>), sent by curl over TLS to 127.0.0.1 with or
/// without a client certificate, and the answers read back by openssl (<c>ocsp -respin</c>, which
/// verifies the signature against the issuer's root).
/// </summary>
[Collection(OcspTestGroup.Name)]
public sealed class MutualTlsTests(OcspFixture fixture)
{
    [Fact]
    public async Task A_registered_client_certificate_is_served_an_unregistered_or_disabled_one_is_unauthorized()
    {
        var keyId = fixture.SigningKeyId;
        var root = fixture.RootPemPath(keyId);
        var good = fixture.Issue(keyId);
        var revoked = fixture.Issue(keyId);
        fixture.Revoke(revoked.Serial, RevocationCause.Death);
        fixture.AddVerifier("verifier-tls");
        fixture.AddVerifier("verifier-tls-later-disabled");
        var registered = fixture.Tls.NewClient("verifier-tls");
        var unregistered = fixture.Tls.NewClient("nobody");
        var laterDisabled = fixture.Tls.NewClient("verifier-tls-later-disabled");
        var operatorCertificate = fixture.Tls.NewClient("operator-x");
        fixture.RegisterClientCertificate("verifier-tls", registered.Certificate);
        fixture.RegisterClientCertificate("verifier-tls-later-disabled", laterDisabled.Certificate);
        fixture.RegisterClientCertificate(OcspFixture.Operator, operatorCertificate.Certificate);

        var onGood = await AskAsync(root, good.Serial, registered);
        Assert.Contains($"0x{good.Serial}: good", onGood, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Response verify OK", onGood, StringComparison.Ordinal);
        var onRevoked = await AskAsync(root, revoked.Serial, registered);
        Assert.Contains($"0x{revoked.Serial}: revoked", onRevoked, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(1, fixture.Count("SELECT COUNT(*) FROM ocsp_queries WHERE verifier = 'verifier-tls' AND serial = @serial AND answer = 'good'", new { serial = good.Serial }));

        Assert.Contains("unauthorized (6)", await AskAsync(root, good.Serial, unregistered), StringComparison.Ordinal);
        Assert.Contains("unauthorized (6)", await AskAsync(root, good.Serial, null), StringComparison.Ordinal);
        Assert.Contains("unauthorized (6)", await AskAsync(root, good.Serial, operatorCertificate), StringComparison.Ordinal);

        Assert.Contains($"0x{good.Serial}: good", await AskAsync(root, good.Serial, laterDisabled), StringComparison.OrdinalIgnoreCase);
        fixture.Disable("verifier-tls-later-disabled");
        await Task.Delay(TimeSpan.FromMilliseconds(400)); // past the remembered lookup (200 ms in the fixture)
        Assert.Contains("unauthorized (6)", await AskAsync(root, good.Serial, laterDisabled), StringComparison.Ordinal);

        // The token still works on the TLS listener, and the plain listener ignores nothing it did before.
        Assert.Contains($"0x{good.Serial}: good", await AskAsync(root, good.Serial, null, fixture.Tokens[OcspFixture.Verifier]), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_registered_client_certificate_outside_its_validity_is_unauthorized()
    {
        var keyId = fixture.SigningKeyId;
        var root = fixture.RootPemPath(keyId);
        var good = fixture.Issue(keyId);
        var now = DateTimeOffset.UtcNow;
        fixture.AddVerifier("verifier-tls-dated");

        // Three certificates made the same way (openssl ca with explicit dates), all registered to
        // the same enabled verifier: only the one valid now is served.
        var current = fixture.Tls.NewClient("verifier-tls-current", now.AddDays(-1), now.AddDays(1));
        var expired = fixture.Tls.NewClient("verifier-tls-expired", new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2020, 1, 2, 0, 0, 0, TimeSpan.Zero));
        var notYetValid = fixture.Tls.NewClient("verifier-tls-future", now.AddDays(1), now.AddDays(2));
        var dates = await ExternalProcess.RunAsync("openssl", "x509", "-in", expired.Certificate, "-noout", "-enddate");
        Assert.Contains("notAfter=Jan  2 00:00:00 2020 GMT", dates.Output, StringComparison.Ordinal);
        foreach (var client in new[] { current, expired, notYetValid })
        {
            fixture.RegisterClientCertificate("verifier-tls-dated", client.Certificate);
        }

        var onCurrent = await AskAsync(root, good.Serial, current);
        Assert.Contains($"0x{good.Serial}: good", onCurrent, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Response verify OK", onCurrent, StringComparison.Ordinal);
        Assert.Contains("unauthorized (6)", await AskAsync(root, good.Serial, expired), StringComparison.Ordinal);
        Assert.Contains("unauthorized (6)", await AskAsync(root, good.Serial, notYetValid), StringComparison.Ordinal);

        // Queries are logged in batches: wait (bounded) for the one granted query, then check it is the only one.
        const string logged = "SELECT COUNT(*) FROM ocsp_queries WHERE verifier = 'verifier-tls-dated'";
        for (var i = 0; i < 100 && fixture.Count(logged) == 0; i++)
        {
            await Task.Delay(50);
        }

        Assert.Equal(1, fixture.Count(logged));
    }

    private async Task<string> AskAsync(string root, string serial, (string Certificate, string Key)? client, string? token = null)
    {
        var name = Guid.NewGuid().ToString("N");
        var request = Path.Combine(fixture.Root, name + ".req");
        var response = Path.Combine(fixture.Root, name + ".resp");
        var made = await ExternalProcess.RunAsync("openssl", "ocsp", "-issuer", root, "-serial", "0x" + serial, "-no_nonce", "-reqout", request);
        Assert.True(made.ExitCode == 0, made.Output);
        var headerFile = Path.Combine(fixture.Root, name + ".headers");
        File.WriteAllText(headerFile, "Content-Type: application/ocsp-request\n" + (token is null ? "" : $"Authorization: Bearer {token}\n"));
        List<string> curl = ["-H", "@" + headerFile, "--data-binary", "@" + request, "-o", response];
        if (client is { } c)
        {
            curl.AddRange(["--cert", c.Certificate, "--key", c.Key]);
        }

        curl.Add(new Uri(fixture.TlsAddress, "ocsp").ToString());
        var sent = await fixture.Tls.CurlAsync([.. curl]);
        Assert.True(sent.ExitCode == 0, sent.Output);
        var read = await ExternalProcess.RunAsync("openssl", "ocsp", "-respin", response, "-issuer", root, "-serial", "0x" + serial, "-CAfile", root);
        return read.Output;
    }
}
