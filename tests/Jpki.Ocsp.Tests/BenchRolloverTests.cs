using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Jpki.Ocsp.Tests;

/// <summary>
/// The bounded version of <c>./jpki bench rollover</c> (issue 17, docs/decisions/0960): the
/// benchmark program itself, as a child process, on a store of 20,000 synthetic certificates. It
/// must back the install up and restore it (the same row count), roll the signing issuer over, and
/// publish the first complete CRL of each generation; openssl checks both CRLs against their own
/// roots, and generation 1's must list exactly the fill's revoked signing rows (generation 2 has
/// no certificates yet: its CRL is empty).
/// </summary>
public sealed partial class BenchRolloverTests : IDisposable
{
    private const int Rows = 20_000;

    private readonly string root = Directory.CreateTempSubdirectory("jpki-bench-rollover-").FullName;

    [Fact]
    public void Bench_rollover_backs_up_restores_rolls_over_and_publishes_each_generations_first_complete_crl()
    {
        var start = ExternalProcess.Start("dotnet", [TestInstall.BuiltToolPath("tests", "Jpki.Benchmarks"), "rollover", "--rows", Rows.ToString(CultureInfo.InvariantCulture), "--out", root]);
        start.Environment.Remove("JPKI_HSM_PIN");
        start.Environment.Remove("JPKI_DB");
        var result = ExternalProcess.Run(start, timeout: TimeSpan.FromMinutes(4));
        Assert.True(result.ExitCode == 0, result.ToString());

        // The restore gave back every row of the store it was made from.
        var restore = RestoreLine().Match(result.Stdout);
        Assert.True(restore.Success, result.Stdout);
        var restored = long.Parse(restore.Groups[1].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        Assert.Equal(restored, long.Parse(restore.Groups[2].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture));
        Assert.InRange(restored, Rows + 1, Rows + 20); // the fill's rows and the ceremony's roots and responders
        Assert.Matches(@"backup: [0-9.]+ s, archive [0-9.]+ MiB \(\d+ bytes", result.Stdout);
        Assert.Matches(@"rollover: [0-9.]+ s, yamaguchi-ken-signing to generation 2, switch at ", result.Stdout);

        // Generation 1's first complete CRL: signed by g1, exactly the revoked signing rows.
        var home = Path.Combine(root, "rollover-" + Rows.ToString(CultureInfo.InvariantCulture), "run", "home");
        var revokedSigning = Enumerable.Range(0, Rows).Where(i => i % 2 == 0 && SyntheticFill.IsRevoked(i)).Select(i => SyntheticFill.Serial(i).ToUpperInvariant()).ToHashSet();
        Assert.Equal(Rows / 20, revokedSigning.Count);
        Assert.Contains($"crl yamaguchi-ken-signing-g1/full.crl: ", result.Stdout, StringComparison.Ordinal);
        Assert.Matches($@"crl yamaguchi-ken-signing-g1/full.crl: [0-9.]+ s, {revokedSigning.Count} entries", result.Stdout);
        var g1 = Crl(home, "yamaguchi-ken-signing-g1");
        Assert.True(revokedSigning.SetEquals(SerialLine().Matches(g1).Select(m => m.Groups[1].Value)), g1[..Math.Min(g1.Length, 2000)]);

        // Generation 2's: its own series, signed by g2, none of g1's certificates in it.
        Assert.Matches(@"crl yamaguchi-ken-signing-g2/full.crl: [0-9.]+ s, 0 entries", result.Stdout);
        var g2 = Crl(home, "yamaguchi-ken-signing-g2");
        Assert.Contains("No Revoked Certificates.", g2, StringComparison.Ordinal);

        var figures = JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "rollover.json"))).RootElement.EnumerateArray().Select(f => f.GetProperty("name").GetString()).ToList();
        Assert.Contains($"rollover.backup.{Rows}.archive", figures);
        Assert.Contains($"rollover.restore.{Rows}.seconds", figures);
        Assert.Contains($"rollover.ceremony.{Rows}.seconds", figures);
        Assert.Contains("rollover.crl.yamaguchi-ken-signing-g2.seconds", figures);
    }

    /// <summary>openssl's text of a published CRL, after it verified the signature with the generation's own root.</summary>
    private static string Crl(string home, string key)
    {
        var (exit, output) = ExternalProcess.Run(
            "openssl", "crl", "-inform", "DER", "-in", Path.Combine(home, "crl", key, "full.crl"), "-CAfile", Path.Combine(home, "certs", key + ".pem"), "-noout", "-text");
        Assert.True(exit == 0, output);
        Assert.Contains("verify OK", output, StringComparison.Ordinal);
        return output;
    }

    [GeneratedRegex(@"restore: [0-9.]+ s, ([0-9,]+) certificate rows restored of ([0-9,]+) backed up")]
    private static partial Regex RestoreLine();

    [GeneratedRegex(@"Serial Number: ([0-9A-F]+)")]
    private static partial Regex SerialLine();

    public void Dispose()
    {
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
            // A child still closing its files: the temporary directory is left behind.
        }
    }
}
