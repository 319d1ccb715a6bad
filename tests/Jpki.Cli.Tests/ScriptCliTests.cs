using System.Text.RegularExpressions;

namespace Jpki.Cli.Tests;

/// <summary>
/// The <c>./jpki</c> script itself: <c>./jpki help</c> names every verb of its dispatch
/// (read from the script's last <c>case</c> statement, so a verb added there without its line in
/// the usage fails here), each verb's <c>--help</c> exits 0 with an example, and a usage error of
/// the script exits 2 with the usage on stderr. Nothing here builds: the script runs this test
/// run's build (JPKI_BUILD_CONFIG).
/// </summary>
public sealed partial class ScriptCliTests : IDisposable
{
    private readonly DirectoryInfo home = Directory.CreateTempSubdirectory("jpki-script-home-");

    public void Dispose() => home.Delete(recursive: true);

    [Fact]
    public void Help_names_every_verb_of_the_dispatch_and_no_design_section()
    {
        var verbs = DispatchedVerbs();
        Assert.Contains("build", verbs);
        Assert.Contains("residents", verbs);
        Assert.Contains("tls", verbs);

        var help = Script("help");
        Assert.True(help.ExitCode == 0, help.ToString());
        var listed = help.Stdout.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()).ToHashSet(StringComparer.Ordinal);
        foreach (var verb in verbs)
        {
            Assert.True(listed.Contains(verb), $"./jpki help does not list '{verb}':\n{help.Stdout}");
        }

        Assert.DoesNotContain("DESIGN.md", help.Stdout, StringComparison.Ordinal);
        Assert.Equal(help.Stdout, Script("--help").Stdout);
        Assert.Equal(help.Stdout, Script().Stdout);
    }

    [Fact]
    public void Every_verb_answers_help_with_exit_0_and_an_example_of_itself()
    {
        foreach (var verb in DispatchedVerbs().Where(v => v != "help"))
        {
            var help = Script(verb, "--help");
            Assert.True(help.ExitCode == 0, $"./jpki {verb} --help: {help}");
            Assert.Contains($"./jpki {verb}", help.Stdout, StringComparison.Ordinal);
            Assert.Contains("exit codes", help.Stdout, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Theory]
    [InlineData(new[] { "nosuch" }, "unknown verb 'nosuch'")]
    [InlineData(new[] { "build", "everything" }, "build takes no arguments")]
    [InlineData(new[] { "crl" }, "crl needs a verb")]
    [InlineData(new[] { "hsm" }, "Required command")]
    [InlineData(new[] { "residents", "show" }, "Required argument missing")]
    public void A_usage_error_exits_2_with_the_usage_on_stderr(string[] arguments, string error)
    {
        var result = Script(arguments);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(error, result.Stderr, StringComparison.Ordinal);
        Assert.Contains("usage", result.Stderr, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("", result.Stdout);
    }

    /// <summary>The verbs of the script's dispatch: the alternatives of its last <c>case</c> statement.</summary>
    private static List<string> DispatchedVerbs()
    {
        var script = File.ReadAllText(Path.Combine(TestInstall.RepositoryRoot(), "jpki"));
        var dispatch = script[script.LastIndexOf("case \"$verb\" in", StringComparison.Ordinal)..];
        dispatch = dispatch[..dispatch.IndexOf("\nesac", StringComparison.Ordinal)];
        var verbs = CaseLabel().Matches(dispatch)
            .SelectMany(m => m.Groups["labels"].Value.Split('|'))
            .Where(v => !v.StartsWith('-') && v != "*")
            .Distinct(StringComparer.Ordinal)
            .ToList();
        Assert.True(verbs.Count >= 10, string.Join(", ", verbs));
        return verbs;
    }

    private ProcessResult Script(params string[] arguments)
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent!.Name;
        return ExternalProcess.RunWith(
            "bash",
            [Path.Combine(TestInstall.RepositoryRoot(), "jpki"), .. arguments],
            new Dictionary<string, string> { ["JPKI_HOME"] = home.FullName, ["JPKI_BUILD_CONFIG"] = configuration, ["JPKI_DB"] = "", ["JPKI_HSM_PIN"] = "" });
    }

    // A label of the dispatch: two spaces, verbs separated by '|', ')' (nested cases are indented deeper).
    [GeneratedRegex(@"^  (?<labels>[a-z*][a-z|*-]*)\)", RegexOptions.Multiline)]
    private static partial Regex CaseLabel();
}
