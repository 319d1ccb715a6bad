using System.Text.RegularExpressions;

namespace Jpki.HsmTool.Tests;

/// <summary>
/// The slow verbs report their steps with the time elapsed on standard error
/// (<c>[3/6 4.2 s] ...</c>, then <c>[done 9.1 s] ...</c>), and standard output keeps only the
/// results that scripts and the tests above read.
/// </summary>
[Collection(SoftHsmStoreTests.Name)]
public sealed partial class ToolProgressCliTests(SoftHsmStore store)
{
    [Fact]
    public void The_ceremony_counts_its_steps_with_elapsed_time_on_stderr()
    {
        var first = store.Ceremony.Value.First;
        Assert.True(first.ExitCode == 0, first.ToString());

        // One prefecture by default: token, checkpoint key, HMAC key, two issuers, the close.
        var steps = Step().Matches(first.Stderr).Select(m => (N: int.Parse(m.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture), Total: m.Groups["total"].Value, m.Groups["what"].Value)).ToList();
        Assert.Equal([1, 2, 3, 4, 5, 6], steps.Select(s => s.N));
        Assert.All(steps, s => Assert.Equal("6", s.Total));
        Assert.Contains(steps, s => s.Value.StartsWith("issuer yamaguchi-ken-signing", StringComparison.Ordinal));
        Assert.Matches(@"(?m)^\[done \d+\.\d s\] key ceremony: \d+ changes$", first.Stderr);
        Assert.DoesNotMatch(@"(?m)^\[(\d|done)", first.Stdout);

        Assert.Matches(@"(?m)^\[done \d+\.\d s\] key ceremony: nothing to do$", store.Ceremony.Value.Second.Stderr);
    }

    [Fact]
    public void Backup_and_restore_report_each_file_and_the_audit_record()
    {
        var install = store.NewInstall();
        Assert.Equal(0, install.Run("hsm", "init").ExitCode);
        var archive = Path.Combine(install.Home, "progress-backup.tar");

        var backup = install.Run("hsm", "backup", "--out", archive);
        Assert.True(backup.ExitCode == 0, backup.ToString());
        Assert.Matches(@"(?m)^\[1 \d+\.\d s\] taking the token store lock", backup.Stderr);
        Assert.Matches(@"(?m)^\[\d+ \d+\.\d s\] archiving token\.object \(\d+ bytes\)$", backup.Stderr);
        Assert.Matches(@"(?m)^\[\d+ \d+\.\d s\] audit record ceremony\.token\.backup$", backup.Stderr);
        Assert.Matches(@"(?m)^\[done \d+\.\d s\] backup of token '", backup.Stderr);
        Assert.StartsWith($"backed up token '{install.TokenLabel}'", backup.Stdout, StringComparison.Ordinal);

        var restore = install.Run("hsm", "restore", "--in", archive, "--replace");
        Assert.True(restore.ExitCode == 0, restore.ToString());
        Assert.Matches(@"(?m)^\[\d+ \d+\.\d s\] checking \d+ files of token '.*' against the manifest's SHA-256$", restore.Stderr);
        Assert.Matches(@"(?m)^\[done \d+\.\d s\] restore of token '", restore.Stderr);
        Assert.StartsWith($"restored token '{install.TokenLabel}'", restore.Stdout, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"(?m)^\[(?<n>\d+)/(?<total>\d+) \d+\.\d s\] (?<what>.+)$")]
    private static partial Regex Step();
}
