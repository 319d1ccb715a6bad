using Jpki.Core.Profiles;
using Jpki.Hsm;

namespace Jpki.Core.Tests.Profiles;

/// <summary>Standard inputs for the builder tests.</summary>
internal static class TestIssuers
{
    public const string ArlUrl = "http://127.0.0.1:8083/crl/yamaguchi-ken-signing-g1/arl.crl";

    public static readonly Prefecture Yamaguchi = new("Yamaguchi-ken", "山口県", "35");

    /// <summary>12:04:05.678 JST on 22 November 2026: the sub-second part must be dropped.</summary>
    public static readonly DateTimeOffset IssuedAt = new(2026, 11, 22, 3, 4, 5, 678, TimeSpan.Zero);

    public static RootCertificateRequest RootRequest(IssuerKind kind = IssuerKind.Signing, DateTimeOffset? issuedAt = null, int validityYears = 10) => new()
    {
        Kind = kind,
        Prefecture = Yamaguchi,
        SerialNumber = SerialNumbers.New(),
        IssuedAt = issuedAt ?? IssuedAt,
        ArlUrl = ArlUrl,
        ValidityYears = validityYears,
    };

    public static byte[] Root(IssuerKind kind = IssuerKind.Signing, DateTimeOffset? issuedAt = null, int validityYears = 10) =>
        new RootCertificateBuilder(SoftwareKeys.Root, SignatureAlgorithm.RsaPkcs1Sha256).Build(RootRequest(kind, issuedAt, validityYears));

    public static ResponderCertificateRequest ResponderRequest(ISigner responderKey, DateTimeOffset? issuedAt = null) => new()
    {
        ResponderPublicKey = responderKey.SubjectPublicKeyInfo,
        SerialNumber = SerialNumbers.New(),
        IssuedAt = issuedAt ?? IssuedAt,
        Generation = 1,
    };

    public static byte[] Responder(byte[] root, ISigner responderKey, DateTimeOffset? issuedAt = null) =>
        new ResponderCertificateBuilder(root, SoftwareKeys.Root, SignatureAlgorithm.RsaPkcs1Sha256)
            .Build(ResponderRequest(responderKey, issuedAt));
}
