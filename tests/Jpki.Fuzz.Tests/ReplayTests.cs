using System.Diagnostics;
using System.Text;
using Jpki.Core.Audit;
using Jpki.Core.Requests;
using Jpki.CrlPublisher;
using Jpki.JukiNet;
using Jpki.Ocsp;
using Jpki.Verifier;

namespace Jpki.Fuzz.Tests;

/// <summary>
/// Every committed seed (tests/Jpki.Fuzz/corpus/TARGET) and every past crash input
/// (tests/Jpki.Fuzz/regressions/TARGET) through its harness in process, as AFL++ runs them under
/// ./jpki fuzz: the parser reads the input or refuses it with its own typed rejection, within
/// the hang bound. Deterministic: the harnesses fix the clock, the trust and the content.
/// </summary>
public sealed class ReplayTests
{
    /// <summary>
    /// AFL++ kills an input after 1 s. In process on a shared 2-core CI machine, with the JIT's first
    /// runs and other test processes beside it, 2 s was missed (2.1 s) without any hang: this bound
    /// finds a hang (an input that never ends), speed is the fuzzer's and the benchmarks' business.
    /// </summary>
    private static readonly TimeSpan HangBound = TimeSpan.FromSeconds(10);

    private static readonly string FuzzProject = Path.Combine(TestInstall.RepositoryRoot(), "tests", "Jpki.Fuzz");

    public static TheoryData<string> Targets() => [.. FuzzTargets.All.Select(t => t.Name)];

    [Theory]
    [MemberData(nameof(Targets))]
    public void Every_seed_and_past_crash_is_read_or_refused_with_the_typed_rejection(string name)
    {
        var target = FuzzTargets.Find(name)!;
        var inputs = Inputs("corpus", name).Concat(Inputs("regressions", name)).ToList();
        Assert.NotEmpty(Inputs("corpus", name));
        // Once, so that the first input's time is not the JIT's.
        Replay.One(target, []);
        var failures = new List<string>();
        foreach (var file in inputs)
        {
            var watch = Stopwatch.StartNew();
            var unexpected = Replay.One(target, File.ReadAllBytes(file));
            watch.Stop();
            if (unexpected is not null)
            {
                failures.Add($"{Path.GetRelativePath(FuzzProject, file)}: {unexpected.GetType().Name}: {unexpected.Message}\n{unexpected.StackTrace}");
            }
            else if (watch.Elapsed > HangBound)
            {
                failures.Add($"{Path.GetRelativePath(FuzzProject, file)}: {watch.ElapsedMilliseconds} ms (bound {HangBound.TotalMilliseconds} ms)");
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {inputs.Count} inputs of {name}:\n" + string.Join("\n", failures));
    }

    [Fact]
    public void Every_regression_folder_names_a_target()
    {
        var folder = Path.Combine(FuzzProject, "regressions");
        var names = Directory.Exists(folder) ? Directory.GetDirectories(folder).Select(Path.GetFileName).ToList() : [];
        Assert.All(names, n => Assert.NotNull(FuzzTargets.Find(n!)));
    }

    /// <summary>
    /// The seeds are valid messages that reach the deep checks (docs/decisions/0800): AsnReader
    /// gives AFL++ no coverage to climb by, so a seed that is refused at its first bytes would
    /// leave the rest of a parser unfuzzed.
    /// </summary>
    [Fact]
    public async Task The_valid_seeds_pass_every_check_of_their_parser()
    {
        var cms = await SignatureVerifier.VerifyAsync(Fixtures.SignedContent, Seed("verifier-cms", "valid-signing"), FuzzTargets.VerifierOptions());
        Assert.True(cms.IsValid, cms.FirstFailure?.ToString());
        Assert.Equal(RevocationState.Good, cms.Revocation.State);
        var revoked = await SignatureVerifier.VerifyAsync(Fixtures.SignedContent, Seed("verifier-cms", "revoked-signer"), FuzzTargets.VerifierOptions());
        Assert.Equal(RevocationState.Revoked, revoked.Revocation.State);

        using (var reader = new CrlFileReader(new MemoryStream(Seed("crl", "partition-40-entries-freshest"))))
        {
            reader.ReadPreamble();
            Assert.Equal(40, reader.ReadEntrySerials().Count());
            var trailer = reader.ReadTrailer(Fixtures.CrlIssuerSubjectPublicKeyInfo);
            Assert.True(trailer.SignatureValid);
            Assert.Equal(12, trailer.Number);
            Assert.NotNull(trailer.IssuingDistributionPoint);
            Assert.Equal("http://127.0.0.1:8083/crl/delta.crl", trailer.FreshestCrlUrl);
        }

        Assert.NotNull(OcspRequestReader.Read(Seed("ocsp-request", "sha256-nonce")).Nonce);
        Assert.Throws<MalformedOcspRequestException>(() => OcspRequestReader.Read(Seed("ocsp-request", "two-certids")));
        Assert.NotNull(CertificationRequestReader.Read(Seed("pkcs10", "pem")));
        Assert.Equal(CsrProblem.UnsupportedKeyType, Assert.Throws<CsrRejectedException>(() => CertificationRequestReader.Read(Seed("pkcs10", "ec-p256"))).Problem);

        var page = JukiNetClient.ReadChangePage(Seed("jukinet-changes", "every-type"), "test");
        Assert.Equal(Enum.GetValues<ChangeType>().Length, page.Changes.Count);
        Assert.Empty(page.Malformed);
        Assert.Equal(4, JukiNetClient.ReadChangePage(Seed("jukinet-changes", "malformed-entries"), "test").Malformed.Count);

        using var certificate = Core.Accounts.ClientCertificateStore.Parse(Encoding.UTF8.GetString(Seed("client-certificate", "pem")));
        Assert.Contains("fuzz signer", certificate.Subject, StringComparison.Ordinal);
        Assert.NotNull(AuditCheckpoint.ParseFileLine(Encoding.UTF8.GetString(Seed("audit-json", "checkpoint-line"))));
        Assert.Equal(42, AuditCheckpointDocument.Parse(Encoding.UTF8.GetString(Seed("audit-json", "witness-document")), "test").Seq);
    }

    private static byte[] Seed(string target, string name) => File.ReadAllBytes(Path.Combine(FuzzProject, "corpus", target, name));

    private static IEnumerable<string> Inputs(string kind, string target)
    {
        var folder = Path.Combine(FuzzProject, kind, target);
        return Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder).Where(f => !Path.GetFileName(f).StartsWith('.') && Path.GetFileName(f) != "README.md").Order(StringComparer.Ordinal)
            : [];
    }
}
