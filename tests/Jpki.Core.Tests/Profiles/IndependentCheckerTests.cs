using Jpki.Core.Profiles;
using Jpki.Hsm;

namespace Jpki.Core.Tests.Profiles;

/// <summary>
/// The certificates as openssl and GnuTLS certtool see them: two independent X.509
/// implementations, run as the real binaries.
/// </summary>
public sealed class IndependentCheckerTests : IDisposable
{
    private readonly ScratchDirectory _scratch = new();
    private readonly string _rootPem;
    private readonly string _responderPem;

    public IndependentCheckerTests()
    {
        // Issued now, because the checkers verify against the current time.
        var now = DateTimeOffset.UtcNow;
        var root = TestIssuers.Root(issuedAt: now.AddMinutes(-10));
        _rootPem = _scratch.WritePem("root.pem", root);
        _responderPem = _scratch.WritePem("responder.pem", TestIssuers.Responder(root, SoftwareKeys.Responder, now));
    }

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public void Openssl_strictly_verifies_the_root_against_itself()
    {
        var result = Run("openssl", "verify", "-x509_strict", "-CAfile", _rootPem, _rootPem);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("root.pem: OK", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Openssl_strictly_verifies_the_responder_for_the_ocsphelper_purpose()
    {
        var result = Run("openssl", "verify", "-x509_strict", "-purpose", "ocsphelper", "-CAfile", _rootPem, _responderPem);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("responder.pem: OK", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Openssl_and_certtool_read_the_kanji_directoryName_and_the_OCSP_extensions()
    {
        var root = Run("openssl", "x509", "-noout", "-text", "-in", _rootPem);
        var responder = Run("openssl", "x509", "-noout", "-text", "-in", _responderPem);

        Assert.True(root.ExitCode == 0, root.ToString());
        var certtool = Run("certtool", "-i", "--infile", _rootPem);

        // certtool prints names RFC 4514-style, last RDN first.
        Assert.True(certtool.ExitCode == 0, certtool.ToString());
        Assert.Contains("directoryName: OU=山口県,OU=公的個人認証サービス署名用,O=公的個人認証サービス,C=JP", certtool.Output, StringComparison.Ordinal);

        // openssl 3.0 prints a directoryName one-line with non-ASCII bytes escaped: the UTF-8 of 公的個人認証サービス.
        Assert.Contains(@"DirName:/C=JP/O=\xE5\x85\xAC\xE7\x9A\x84", root.Output, StringComparison.Ordinal);
        Assert.Contains("CA:TRUE", root.Output, StringComparison.Ordinal);
        Assert.True(responder.ExitCode == 0, responder.ToString());
        Assert.Contains("OCSP Signing", responder.Output, StringComparison.Ordinal);
        Assert.Contains("OCSP No Check", responder.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Certtool_verifies_the_root_and_the_responder()
    {
        var root = Run("certtool", "--verify", "--load-ca-certificate", _rootPem, "--infile", _rootPem);
        var responder = Run("certtool", "--verify", "--load-ca-certificate", _rootPem, "--infile", _responderPem);

        Assert.True(root.ExitCode == 0, root.ToString());
        Assert.Contains("Verified", root.Output, StringComparison.Ordinal);
        Assert.True(responder.ExitCode == 0, responder.ToString());
        Assert.Contains("Chain verification output: Verified.", responder.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Certtool_parses_both_certificates()
    {
        foreach (var pem in new[] { _rootPem, _responderPem })
        {
            var result = Run("certtool", "-i", "--infile", pem);

            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Contains("Version: 3", result.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void An_auditor_verifies_a_checkpoint_signature_with_openssl_alone()
    {
        var certificate = _scratch.WritePem("checkpoint.pem", CheckpointCertificateBuilderTests.Build(DateTimeOffset.UtcNow));
        var checkpoint = "tree-size 42 root-hash 00ff"u8.ToArray();
        var data = _scratch.WriteBytes("checkpoint.txt", checkpoint);
        var signature = _scratch.WriteBytes("checkpoint.sig", SoftwareKeys.Checkpoint.Sign(SignatureAlgorithm.EcdsaSha256, checkpoint));

        var selfCheck = Run("openssl", "verify", "-x509_strict", "-CAfile", certificate, certificate);
        var extract = Run("openssl", "x509", "-in", certificate, "-pubkey", "-noout", "-out", "checkpoint-pub.pem");
        var verify = Run("openssl", "dgst", "-sha256", "-verify", "checkpoint-pub.pem", "-signature", signature, data);

        Assert.True(selfCheck.ExitCode == 0, selfCheck.ToString());
        Assert.True(extract.ExitCode == 0, extract.ToString());
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains("Verified OK", verify.Output, StringComparison.Ordinal);
    }

    private ProcessResult Run(string tool, params string[] arguments) => ExternalProcess.RunIn(_scratch.Path, tool, arguments);
}
