using Org.BouncyCastle.X509;

namespace Jpki.Fuzz;

/// <summary>
/// The fixed trust the harnesses run under, made once by <see cref="SeedGenerator"/> together with
/// the seeds (fixtures/ beside this file, embedded): the seeds' signatures and CRLs only reach the
/// deep checks when the harness trusts the key that made them.
/// </summary>
public static class Fixtures
{
    /// <summary>The verifier's "now" and validation time: inside every seed certificate's validity and the seed CRL's.</summary>
    public static readonly DateTimeOffset Now = new(2027, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>What the verifier-cms seeds sign (detached).</summary>
    public static byte[] SignedContent { get; } = "JPKI fuzz: the document a resident signs\n"u8.ToArray();

    private static readonly Lazy<X509Certificate> Root = new(() => new X509CertificateParser().ReadCertificate(Resource(RootFile)));
    private static readonly Lazy<byte[]> Crl = new(() => Resource(CrlFile));

    public static X509Certificate VerifierRoot => Root.Value;

    /// <summary>A complete CRL of <see cref="VerifierRoot"/> with one revoked serial: the verifier's CRL check runs in full.</summary>
    public static byte[] VerifierCrl => Crl.Value;

    /// <summary>The key the crl seeds are signed with (the same root).</summary>
    public static byte[] CrlIssuerSubjectPublicKeyInfo => Root.Value.CertificateStructure.SubjectPublicKeyInfo.GetDerEncoded();

    public const string RootFile = "verifier-root.der";
    public const string CrlFile = "verifier-crl.der";

    private static byte[] Resource(string name)
    {
        using var stream = typeof(Fixtures).Assembly.GetManifestResourceStream("fixtures/" + name)
            ?? throw new InvalidOperationException($"fixtures/{name} is not embedded: run `Jpki.Fuzz seeds` once (docs/fuzzing.md)");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
