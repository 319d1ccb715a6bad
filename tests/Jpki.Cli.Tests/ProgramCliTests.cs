namespace Jpki.Cli.Tests;

/// <summary>
/// The command-line conventions of every program, run as child processes from their own build
/// output: every verb's <c>--help</c> (or <c>-h</c>) exits 0 and prints an example of that verb
/// and its exit codes on standard output; a usage error exits 2 with the usage on standard error
/// and nothing on standard output. No verb here touches an HSM or a store.
/// </summary>
public sealed class ProgramCliTests : IDisposable
{
    private readonly DirectoryInfo home = Directory.CreateTempSubdirectory("jpki-cli-home-");

    /// <summary>Every verb of every program: its project, the arguments that name it, the example it must show.</summary>
    public static TheoryData<string, string, string[], string> Verbs => new()
    {
        { "hsm-config", "Jpki.HsmTool", ["hsm", "init"], "./jpki hsm init" },
        { "hsm-config", "Jpki.HsmTool", ["hsm", "break-glass"], "./jpki hsm break-glass --officer" },
        { "hsm-config", "Jpki.HsmTool", ["hsm", "status"], "./jpki hsm status" },
        { "hsm-config", "Jpki.HsmTool", ["hsm", "backup"], "./jpki hsm backup --out" },
        { "hsm-config", "Jpki.HsmTool", ["hsm", "restore"], "./jpki hsm restore --in" },
        { "hsm-config", "Jpki.HsmTool", ["hsm", "rollover"], "./jpki hsm rollover --issuer" },
        { "hsm-config", "Jpki.HsmTool", ["hsm", "retire"], "./jpki hsm retire --key" },
        { "hsm-config", "Jpki.HsmTool", ["hsm", "responder-compromise"], "./jpki hsm responder-compromise --key" },
        { "hsm-config", "Jpki.HsmTool", ["audit", "verify"], "./jpki audit verify" },
        { "hsm-config", "Jpki.HsmTool", ["audit", "signatures"], "./jpki audit signatures" },
        { "hsm-config", "Jpki.HsmTool", ["audit", "checkpoint"], "./jpki audit checkpoint --out" },
        { "hsm-config", "Jpki.HsmTool", ["audit", "export"], "./jpki audit export --from" },
        { "hsm-config", "Jpki.HsmTool", ["audit", "purge"], "./jpki audit purge --before" },
        { "hsm-config", "Jpki.HsmTool", ["tls", "init"], "./jpki tls init" },
        { "hsm-config", "Jpki.HsmTool", ["backup"], "./jpki backup --out" },
        { "hsm-config", "Jpki.HsmTool", ["backup", "escrow"], "./jpki backup escrow --shares" },
        { "hsm-config", "Jpki.HsmTool", ["restore"], "./jpki restore --report --from" },
        { "enrolment-kiosk", "Jpki.Card", ["card", "new"], "./jpki card new" },
        { "enrolment-kiosk", "Jpki.Card", ["card", "list"], "./jpki card list" },
        { "enrolment-kiosk", "Jpki.Card", ["card", "sign"], "./jpki card sign --card" },
        { "enrolment-kiosk", "Jpki.Card", ["card", "auth"], "./jpki card auth --card" },
        { "verifier", "Jpki.Verifier.Cli", ["verify"], "./jpki verify --in" },
        { "verifier", "Jpki.Verifier.Cli", ["verify", "challenge"], "./jpki verify challenge --audience" },
        { "verifier", "Jpki.Verifier.Cli", ["verify", "auth"], "./jpki verify auth --challenge" },
        { "crl-publisher", "Jpki.CrlPublisher", ["crl", "publish"], "./jpki crl publish" },
        { "jukinet", "Jpki.JukiNet.Simulator", ["residents", "list"], "./jpki residents list" },
        { "jukinet", "Jpki.JukiNet.Simulator", ["residents", "show"], "./jpki residents show" },
        { "tests", "Jpki.Benchmarks", ["bench"], "./jpki bench signer" },
    };

    /// <summary>A usage error of each program: what it is given, and a word of the error it must name.</summary>
    public static TheoryData<string, string, string[], string> UsageErrors => new()
    {
        { "hsm-config", "Jpki.HsmTool", [], "Required command" },
        { "hsm-config", "Jpki.HsmTool", ["hsm", "backup"], "'--out' is required" },
        { "hsm-config", "Jpki.HsmTool", ["hsm", "rollover", "--issuer", "yamaguchi-ken-signing"], "'--at' is required" },
        { "hsm-config", "Jpki.HsmTool", ["hsm", "retire"], "'--key' is required" },
        { "hsm-config", "Jpki.HsmTool", ["hsm", "restore", "--in", "a.tar", "--bogus"], "unexpected argument '--bogus'" },
        { "hsm-config", "Jpki.HsmTool", ["audit", "purge", "--before"], "--before" },
        { "hsm-config", "Jpki.HsmTool", ["restore", "--from", "site.age"], "'--share' is required" },
        { "hsm-config", "Jpki.HsmTool", ["hsm", "initialise"], "unexpected argument 'initialise'" },
        { "enrolment-kiosk", "Jpki.Card", ["card", "list", "--all"], "unexpected argument '--all'" },
        { "enrolment-kiosk", "Jpki.Card", ["card", "sign", "--card", "CARD-00000000"], "'--in' is required" },
        { "verifier", "Jpki.Verifier.Cli", ["verify", "--in", "doc.pdf"], "'--sig' is required" },
        { "verifier", "Jpki.Verifier.Cli", ["verify", "--in", "doc.pdf", "--sig", "doc.p7s", "--ocsp", "ftp://x"], "is not an http(s) URL" },
        { "verifier", "Jpki.Verifier.Cli", ["verify", "--in", "doc.pdf", "--sig", "doc.p7s", "--ocsp", "http://127.0.0.1:1/ocsp", "--crl", "a.crl"], "not both" },
        { "verifier", "Jpki.Verifier.Cli", ["verify", "--xml", "return.xml", "--in", "doc.pdf"], "give --xml or --in/--sig, not both" },
        { "verifier", "Jpki.Verifier.Cli", ["verify", "--in", "doc.pdf", "--sig", "doc.p7s", "--element", "Return"], "--element and --cert go with --xml" },
        { "verifier", "Jpki.Verifier.Cli", ["verify", "--xml", "return.xml", "--element", "{urn:x}1bad"], "is not NAME or {namespace}NAME" },
        { "verifier", "Jpki.Verifier.Cli", ["verify", "auth", "--challenge", "c.json", "--sig", "c.sig", "--cert", "a.pem", "--audience", "a"], "'--key-file' is required" },
        { "verifier", "Jpki.Verifier.Cli", ["verify", "challenge", "--audience", "a", "--key-file", "k", "--out", "c.json", "--lifetime", "0"], "--lifetime must be 1-3600" },
        { "enrolment-kiosk", "Jpki.Card", ["card", "auth", "--card", "CARD-00000000", "--challenge", "c.json"], "'--out' is required" },
        { "crl-publisher", "Jpki.CrlPublisher", ["crl", "publish", "--full"], "unexpected argument '--full'" },
        { "jukinet", "Jpki.JukiNet.Simulator", ["residents", "list", "--limit", "0"], "--limit must be 1-100000" },
        { "jukinet", "Jpki.JukiNet.Simulator", ["residents"], "Required command" },
        { "tests", "Jpki.Benchmarks", ["bench", "nosuch"], "'nosuch' not recognized" },
        { "tests", "Jpki.Benchmarks", ["bench", "crl", "--entries", "many"], "--entries" },
    };

    public void Dispose() => home.Delete(recursive: true);

    [Theory]
    [MemberData(nameof(Verbs))]
    public void Help_of_every_verb_exits_0_with_an_example_and_its_exit_codes(string folder, string project, string[] verb, string example)
    {
        foreach (var flag in new[] { "--help", "-h" })
        {
            var help = Run(folder, project, [.. verb, flag]);
            Assert.True(help.ExitCode == 0, $"{string.Join(' ', verb)} {flag}: {help}");
            Assert.Contains("Usage:", help.Stdout, StringComparison.Ordinal);
            Assert.Contains("Examples:", help.Stdout, StringComparison.Ordinal);
            Assert.Contains(example, help.Stdout, StringComparison.Ordinal);
            Assert.Contains("Exit codes:", help.Stdout, StringComparison.Ordinal);
            Assert.Matches(@"(?m)^  2 +usage error", help.Stdout);
            Assert.Equal("", help.Stderr);
        }
    }

    [Theory]
    [InlineData("hsm-config", "Jpki.HsmTool", "hsm", "./jpki hsm backup --out")]
    [InlineData("hsm-config", "Jpki.HsmTool", "audit", "./jpki audit purge --before")]
    [InlineData("enrolment-kiosk", "Jpki.Card", "card", "./jpki card sign --card")]
    [InlineData("jukinet", "Jpki.JukiNet.Simulator", "residents", "./jpki residents show")]
    public void Help_of_a_group_lists_an_example_of_each_of_its_verbs(string folder, string project, string group, string example)
    {
        var help = Run(folder, project, group, "--help");
        Assert.True(help.ExitCode == 0, help.ToString());
        Assert.Contains(example, help.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(UsageErrors))]
    public void A_usage_error_exits_2_with_the_error_and_the_usage_on_stderr(string folder, string project, string[] arguments, string error)
    {
        var result = Run(folder, project, arguments);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(error, result.Stderr, StringComparison.Ordinal);
        Assert.Contains("Usage:", result.Stderr, StringComparison.Ordinal);
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public void A_pin_on_the_card_command_line_is_a_usage_error_that_does_not_repeat_the_pin()
    {
        var result = Run("enrolment-kiosk", "Jpki.Card", "card", "sign", "--card", "CARD-00000000", "--in", "a", "--out", "b", "--pin", "4711-secret");
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("never given on the command line", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("4711-secret", result.Stdout + result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pin_on_the_card_auth_command_line_is_a_usage_error_that_does_not_repeat_the_pin()
    {
        var result = Run("enrolment-kiosk", "Jpki.Card", "card", "auth", "--card", "CARD-00000000", "--challenge", "c.json", "--out", "c.sig", "--pin", "4711-secret");
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("never given on the command line", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("4711-secret", result.Stdout + result.Stderr, StringComparison.Ordinal);
    }

    private ProcessResult Run(string folder, string project, params string[] arguments) =>
        ExternalProcess.RunWith(
            "dotnet",
            [TestInstall.BuiltToolPath(folder, project), .. arguments],
            new Dictionary<string, string> { ["JPKI_HOME"] = home.FullName, ["JPKI_DB"] = "", ["JPKI_HSM_PIN"] = "" });
}
