using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.HsmTool.Tests;

/// <summary>
/// The first-run ceremony run once (it generates six keys), then examined from every side:
/// outside checkers, the token's own attributes, the store, idempotence.
/// </summary>
[Collection(SoftHsmStoreTests.Name)]
public sealed class KeyCeremonyTests(SoftHsmStore store)
{
    private static readonly string[] IssuerKeys = ["yamaguchi-ken-signing-g1", "yamaguchi-ken-authentication-g1"];

    private SharedCeremony Fixture => store.Ceremony.Value;

    private Install Install => Fixture.Install;

    [Fact]
    public void Init_reports_every_step_and_a_second_run_changes_nothing()
    {
        Assert.True(Fixture.First.ExitCode == 0, Fixture.First.ToString());
        Assert.Contains($"initialised token '{Install.TokenLabel}'", Fixture.First.Stdout, StringComparison.Ordinal);
        Assert.Contains("issued root certificate of 'yamaguchi-ken-signing-g1'", Fixture.First.Stdout, StringComparison.Ordinal);
        Assert.Contains("issued OCSP responder certificate for 'yamaguchi-ken-authentication-g1'", Fixture.First.Stdout, StringComparison.Ordinal);

        Assert.True(Fixture.Second.ExitCode == 0, Fixture.Second.ToString());
        Assert.Contains("nothing to do", Fixture.Second.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("generated", Fixture.Second.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Roots_and_responders_pass_openssl_strict_and_certtool()
    {
        foreach (var key in IssuerKeys)
        {
            var root = Install.CertPath(key);
            var responder = Install.CertPath(key + "-ocsp");

            var selfCheck = ExternalProcess.Run("openssl", "verify", "-x509_strict", "-CAfile", root, root);
            Assert.True(selfCheck.ExitCode == 0, selfCheck.Output);
            Assert.Contains(": OK", selfCheck.Output, StringComparison.Ordinal);

            var responderCheck = ExternalProcess.Run("openssl", "verify", "-x509_strict", "-purpose", "ocsphelper", "-CAfile", root, responder);
            Assert.True(responderCheck.ExitCode == 0, responderCheck.Output);

            var gnutls = ExternalProcess.Run("certtool", "--verify", "--load-ca-certificate", root, "--infile", responder);
            Assert.True(gnutls.ExitCode == 0, gnutls.Output);
            Assert.Contains("Verified", gnutls.Output, StringComparison.Ordinal);

            var gnutlsRoot = ExternalProcess.Run("certtool", "--verify", "--load-ca-certificate", root, "--infile", root);
            Assert.True(gnutlsRoot.ExitCode == 0, gnutlsRoot.Output);
        }

        var checkpoint = Install.CertPath("audit-checkpoint-1");
        var checkpointParse = ExternalProcess.Run("openssl", "x509", "-in", checkpoint, "-noout", "-text");
        Assert.True(checkpointParse.ExitCode == 0, checkpointParse.Output);
        Assert.Contains("ecdsa-with-SHA256", checkpointParse.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Certificates_carry_the_hsm_public_keys_and_were_signed_in_the_token()
    {
        foreach (var key in IssuerKeys)
        {
            using var root = X509Certificate2.CreateFromPem(File.ReadAllText(Install.CertPath(key)));
            Assert.Equal(Install.PublicKey(key), root.PublicKey.ExportSubjectPublicKeyInfo());

            using var responder = X509Certificate2.CreateFromPem(File.ReadAllText(Install.CertPath(key + "-ocsp")));
            Assert.Equal(Install.PublicKey(key + "-ocsp-1"), responder.PublicKey.ExportSubjectPublicKeyInfo());
            Assert.Equal(root.SubjectName.RawData, responder.IssuerName.RawData);

            // Both validity times are UTCTime; the root ends at 23:59:59 JST.
            Assert.Equal(new TimeOnly(14, 59, 59), TimeOnly.FromDateTime(root.NotAfter.ToUniversalTime()));
            Assert.Equal(10, root.NotAfter.Year - root.NotBefore.Year);
            Assert.InRange((responder.NotAfter - responder.NotBefore).TotalDays, 89.9, 90.1);
            AssertUtcTimes(root.RawData);
            AssertUtcTimes(responder.RawData);
        }

        using var checkpoint = X509Certificate2.CreateFromPem(File.ReadAllText(Install.CertPath("audit-checkpoint-1")));
        Assert.Equal(Install.PublicKey("audit-checkpoint-1"), checkpoint.PublicKey.ExportSubjectPublicKeyInfo());
    }

    [Fact]
    public void Every_key_is_sensitive_never_extractable_and_sign_only_as_pkcs11_tool_sees_it()
    {
        var (exit, output, _) = Install.Pkcs11Tool("--list-objects", "--type", "privkey");
        Assert.True(exit == 0, output);
        var (secretExit, secretOutput, _) = Install.Pkcs11Tool("--list-objects", "--type", "secrkey");
        Assert.True(secretExit == 0, secretOutput);

        var objects = Pkcs11Objects(output + "\n" + secretOutput);
        Assert.Equal(
            ["audit-checkpoint-1", "resident-hmac-v1", "yamaguchi-ken-authentication-g1", "yamaguchi-ken-authentication-g1-ocsp-1", "yamaguchi-ken-signing-g1", "yamaguchi-ken-signing-g1-ocsp-1"],
            objects.Select(o => o.Label).Order(StringComparer.Ordinal));
        foreach (var o in objects)
        {
            Assert.Equal("sensitive, always sensitive, never extractable, local", o.Access);
            Assert.DoesNotContain("decrypt", o.Usage, StringComparison.Ordinal);
            Assert.DoesNotContain("unwrap", o.Usage, StringComparison.Ordinal);
            Assert.DoesNotContain("encrypt", o.Usage, StringComparison.Ordinal);
            if (o.Header.StartsWith("Private Key", StringComparison.Ordinal))
            {
                Assert.Equal("sign", o.Usage);
            }
        }

        // pkcs11-tool tries to read the HMAC key's value and the token refuses.
        Assert.Contains("C_GetAttributeValue(VALUE) failed: rv = CKR_ATTRIBUTE_SENSITIVE", secretOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void Store_records_issuers_keys_certificates_status_changes_and_audit()
    {
        using var db = new Database($"Data Source={Install.DatabasePath}", TimeProvider.System);
        using var c = db.OpenConnection();
        Assert.Equal(2, c.ExecuteScalar<long>("SELECT COUNT(*) FROM issuers"));
        Assert.Equal(2, c.ExecuteScalar<long>("SELECT COUNT(*) FROM issuer_keys WHERE generation = 1 AND state = 'active'"));
        Assert.Equal(2, c.ExecuteScalar<long>("SELECT COUNT(*) FROM certificates WHERE kind = 'root'"));
        Assert.Equal(2, c.ExecuteScalar<long>("SELECT COUNT(*) FROM certificates WHERE kind = 'ocsp-responder'"));
        Assert.Equal(4, c.ExecuteScalar<long>("SELECT COUNT(*) FROM status_changes WHERE status = 'good'"));
        Assert.Equal(2, c.ExecuteScalar<long>("SELECT COUNT(*) FROM install_keys"));
        var actions = c.Query<string>("SELECT action FROM audit_log ORDER BY seq").ToList();
        Assert.Equal(
            [
                "signature.intended", "ceremony.checkpoint-key.created", "ceremony.hmac-key.created",
                "signature.intended", "ceremony.root.issued", "signature.intended", "ceremony.ocsp-responder.issued",
                "signature.intended", "ceremony.root.issued", "signature.intended", "ceremony.ocsp-responder.issued",
            ],
            actions);

        // The second run added nothing.
        Assert.Equal(11, c.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_log"));

        var verify = Install.Run("audit", "verify");
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains("audit chain OK: 11 records", verify.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void The_pin_never_appears_in_output_or_logs()
    {
        var pin = File.ReadAllText(Install.UserPinFile).Trim();
        var soPin = File.ReadAllText(Path.Combine(Install.Home, "secrets", "hsm-so.pin")).Trim();
        var status = Install.Run("hsm", "status");
        Assert.True(status.ExitCode == 0, status.ToString());
        foreach (var output in new[] { Fixture.First.All, Fixture.Second.All, status.All })
        {
            Assert.DoesNotContain(pin, output, StringComparison.Ordinal);
            Assert.DoesNotContain(soPin, output, StringComparison.Ordinal);
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Install.UserPinFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(Install.UserPinFile)!));
    }

    /// <summary>pkcs11-tool's object listing: a header line ("Private Key Object; RSA") then indented "name: value" lines.</summary>
    private static List<(string Header, string Label, string Usage, string Access)> Pkcs11Objects(string listing)
    {
        var objects = new List<(string, string, string, string)>();
        string? header = null;
        var fields = new Dictionary<string, string>();
        foreach (var line in listing.Split('\n').Append("End Object;"))
        {
            if (line.Contains(" Object;", StringComparison.Ordinal))
            {
                if (header is not null)
                {
                    objects.Add((header, fields.GetValueOrDefault("label", ""), fields.GetValueOrDefault("Usage", ""), fields.GetValueOrDefault("Access", "")));
                }

                header = line.Trim();
                fields.Clear();
            }
            else if (header is not null && line.StartsWith("  ", StringComparison.Ordinal) && line.Contains(':', StringComparison.Ordinal))
            {
                var parts = line.Split(':', 2);
                fields[parts[0].Trim()] = parts[1].Trim();
            }
        }

        return objects;
    }

    private static void AssertUtcTimes(byte[] der)
    {
        // Certificate → TBSCertificate → [version] serial sigAlg issuer validity.
        var tbs = new AsnReader(der, AsnEncodingRules.DER).ReadSequence().ReadSequence();
        tbs.ReadEncodedValue();
        tbs.ReadInteger();
        tbs.ReadSequence();
        tbs.ReadSequence();
        var validity = tbs.ReadSequence();
        Assert.Equal(UniversalTagNumber.UtcTime, (UniversalTagNumber)validity.PeekTag().TagValue);
        validity.ReadUtcTime();
        Assert.Equal(UniversalTagNumber.UtcTime, (UniversalTagNumber)validity.PeekTag().TagValue);
    }
}
