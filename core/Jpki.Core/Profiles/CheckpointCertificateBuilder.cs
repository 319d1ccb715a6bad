using Jpki.Hsm;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;

namespace Jpki.Core.Profiles;

/// <summary>What varies between audit-checkpoint key certificates.</summary>
public sealed record CheckpointCertificateRequest
{
    /// <summary>Names this CA installation; becomes the OU.</summary>
    public required string InstallName { get; init; }

    /// <summary>Counts checkpoint keys of the install (1, 2, …); shown in the CN.</summary>
    public required int KeyNumber { get; init; }

    public required BigInteger SerialNumber { get; init; }

    public required DateTimeOffset IssuedAt { get; init; }

    public int ValidityYears { get; init; } = 10;
}

/// <summary>
/// Builds a self-signed certificate for the key that signs audit-log checkpoints, so that an
/// outside auditor can check checkpoint signatures with openssl and nothing from this project:
/// <c>C=JP, O=JPKI, OU=&lt;install&gt;, CN=JPKI audit checkpoint key &lt;n&gt;</c>; keyUsage
/// (critical digitalSignature), basicConstraints (critical, cA=FALSE), SKI.
/// </summary>
public sealed class CheckpointCertificateBuilder
{
    private readonly SelfSigningKey _key;

    /// <param name="signer">The checkpoint key (P-256 typically); it certifies itself.</param>
    /// <param name="algorithm">ecdsa-with-SHA256 for a P-256 key.</param>
    /// <exception cref="ArgumentException">The key kind does not fit the algorithm.</exception>
    public CheckpointCertificateBuilder(ISigner signer, SignatureAlgorithm algorithm) => _key = new SelfSigningKey(signer, algorithm, nameof(signer));

    /// <summary>Returns the DER certificate.</summary>
    public byte[] Build(CheckpointCertificateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        CertificateProfile.EnsureSerial(request.SerialNumber, nameof(request));
        CertificateProfile.EnsureValidityYears(request.ValidityYears, nameof(request));

        var generator = _key.Generator(request.SerialNumber, JpkiNames.AuditCheckpoint(request.InstallName, request.KeyNumber), request.IssuedAt, request.ValidityYears);

        generator.AddExtension(X509Extensions.KeyUsage, critical: true, new KeyUsage(KeyUsage.DigitalSignature));

        // Explicit cA=FALSE: the key signs checkpoints only, and nobody may mistake this
        // self-signed certificate for a CA that could vouch for others.
        generator.AddExtension(X509Extensions.BasicConstraints, critical: true, new BasicConstraints(cA: false));
        generator.AddExtension(X509Extensions.SubjectKeyIdentifier, critical: false, CertificateProfile.KeyIdentifier(_key.PublicKey));

        return _key.Sign(generator);
    }
}
