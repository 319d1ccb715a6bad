using Jpki.Core.Issuance;
using Jpki.Core.Profiles;
using Jpki.Core.Tests.Profiles;

namespace Jpki.Core.Tests.Issuance;

/// <summary>Both end-entity kinds as openssl and GnuTLS certtool see them.</summary>
public sealed class EndEntityCheckerTests : IDisposable
{
    private readonly ScratchDirectory _scratch = new();
    private readonly string _signingRootPem;
    private readonly string _authenticationRootPem;
    private readonly string _signingPem;
    private readonly string _authenticationPem;

    public EndEntityCheckerTests()
    {
        // Issued now, because the checkers verify against the current time.
        var now = DateTimeOffset.UtcNow;
        var signingRoot = IssuanceInputs.Root(IssuerKind.Signing, now.AddMinutes(-10));
        var authenticationRoot = IssuanceInputs.Root(IssuerKind.Authentication, now.AddMinutes(-10));
        _signingRootPem = _scratch.WritePem("signing-root.pem", signingRoot);
        _authenticationRootPem = _scratch.WritePem("auth-root.pem", authenticationRoot);
        _signingPem = _scratch.WritePem("signing.pem", IssuanceInputs.Issue(IssuanceInputs.Request(IssuerKind.Signing, signingRoot, now)).Der);
        _authenticationPem = _scratch.WritePem("auth.pem", IssuanceInputs.Issue(IssuanceInputs.Request(IssuerKind.Authentication, authenticationRoot, now)).Der);
    }

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public void Openssl_strictly_verifies_both_kinds()
    {
        var signing = Run("openssl", "verify", "-x509_strict", "-CAfile", _signingRootPem, _signingPem);
        var authentication = Run("openssl", "verify", "-x509_strict", "-CAfile", _authenticationRootPem, _authenticationPem);

        Assert.True(signing.ExitCode == 0, signing.ToString());
        Assert.Contains("signing.pem: OK", signing.Output, StringComparison.Ordinal);
        Assert.True(authentication.ExitCode == 0, authentication.ToString());
        Assert.Contains("auth.pem: OK", authentication.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("signing", JpkiOids.SigningPolicy)]
    [InlineData("auth", JpkiOids.AuthenticationPolicy)]
    public void Openssl_policy_checking_accepts_the_critical_policy_and_rejects_another(string name, string policy)
    {
        var root = name == "signing" ? _signingRootPem : _authenticationRootPem;
        var leaf = name == "signing" ? _signingPem : _authenticationPem;

        // The roots carry no certificatePolicies; RFC 5280 treats a trust anchor as anyPolicy.
        var accepted = Run("openssl", "verify", "-x509_strict", "-policy_check", "-explicit_policy", "-policy", policy, "-CAfile", root, leaf);
        var rejected = Run("openssl", "verify", "-x509_strict", "-policy_check", "-explicit_policy", "-policy", "1.2.3.4", "-CAfile", root, leaf);

        Assert.True(accepted.ExitCode == 0, accepted.ToString());
        Assert.NotEqual(0, rejected.ExitCode);
        Assert.Contains("no explicit policy", rejected.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Certtool_verifies_both_kinds()
    {
        var signing = Run("certtool", "--verify", "--load-ca-certificate", _signingRootPem, "--infile", _signingPem);
        var authentication = Run("certtool", "--verify", "--load-ca-certificate", _authenticationRootPem, "--infile", _authenticationPem);

        Assert.True(signing.ExitCode == 0, signing.ToString());
        Assert.Contains("Chain verification output: Verified.", signing.Output, StringComparison.Ordinal);
        Assert.True(authentication.ExitCode == 0, authentication.ToString());
        Assert.Contains("Chain verification output: Verified.", authentication.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Openssl_shows_the_six_otherNames_and_the_critical_extensions()
    {
        var text = Run("openssl", "x509", "-noout", "-text", "-in", _signingPem);

        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("X509v3 Key Usage: critical", text.Output, StringComparison.Ordinal);
        Assert.Contains("Digital Signature, Non Repudiation", text.Output, StringComparison.Ordinal);
        Assert.Contains("X509v3 Certificate Policies: critical", text.Output, StringComparison.Ordinal);
        Assert.Contains("Policy: 1.2.392.200149.8.5.1.1.20", text.Output, StringComparison.Ordinal);
        Assert.Contains("CPS: https://www.jpki.example/cps", text.Output, StringComparison.Ordinal);
        Assert.Contains("OCSP - URI:http://127.0.0.1:8082/ocsp", text.Output, StringComparison.Ordinal);
        Assert.Contains("URI:http://127.0.0.1:8083/crl/", text.Output, StringComparison.Ordinal);
        var sanLine = text.Output.Split('\n').SkipWhile(l => !l.Contains("X509v3 Subject Alternative Name", StringComparison.Ordinal)).Skip(1).First();
        Assert.Equal(
            "othername: 1.2.392.200149.8.5.5.1::山口\u3000𠮷子, othername: 1.2.392.200149.8.5.5.4::319800229, "
            + "othername: 1.2.392.200149.8.5.5.3::2, othername: 1.2.392.200149.8.5.5.5::山口県山口市亀山町１－１, "
            + "othername: 1.2.392.200149.8.5.5.2::00010, othername: 1.2.392.200149.8.5.5.6::000000000000",
            sanLine.Trim());
    }

    [Fact]
    public void Certtool_reads_the_otherNames_and_the_partition_directoryName()
    {
        var text = Run("certtool", "-i", "--infile", _signingPem);

        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("1.2.392.200149.8.5.5.1", text.Output, StringComparison.Ordinal);
        Assert.Contains("1.2.392.200149.8.5.5.6", text.Output, StringComparison.Ordinal);
        Assert.Contains("CN=Yamaguchi-shi CRLDP", text.Output, StringComparison.Ordinal);
    }

    private ProcessResult Run(string tool, params string[] arguments) => ExternalProcess.RunIn(_scratch.Path, tool, arguments);
}
