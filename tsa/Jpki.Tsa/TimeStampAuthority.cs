using System.Security.Cryptography;
using Jpki.Hsm;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Cmp;
using Org.BouncyCastle.Asn1.Nist;
using Org.BouncyCastle.Cms;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Tsp;
using Org.BouncyCastle.Utilities.Collections;
using Org.BouncyCastle.X509;

namespace Jpki.Tsa;

/// <summary>
/// Answers RFC 3161 TimeStampReq with TimeStampResp, the token signed by an HSM key through
/// <see cref="ISigner"/> (SHA-256 with RSA, the signing-certificate-v2 attribute naming the TSA
/// certificate, which is included when the request asks for it). Serial numbers are 128 random
/// bits: unique without a counter shared between instances. genTime comes from the clock given,
/// to the second (accuracy 1 s). Only SHA-256/384/512 imprints are accepted.
/// </summary>
public sealed class TimeStampAuthority
{
    /// <summary>
    /// The policy a TSA stamps under when none is configured: under the example arc 2.999, naming
    /// no real policy (jpki.json <c>tsa.policyOid</c> sets the prefecture's own; docs/decisions/0360).
    /// </summary>
    public const string DefaultPolicy = Jpki.Core.Configuration.TsaSettings.ExamplePolicy;

    private static readonly List<string> AcceptedDigests =
    [
        NistObjectIdentifiers.IdSha256.Id,
        NistObjectIdentifiers.IdSha384.Id,
        NistObjectIdentifiers.IdSha512.Id,
    ];

    private readonly TimeStampResponseGenerator _responses;
    private readonly TimeProvider _time;

    /// <exception cref="TspValidationException">The certificate is not a TSA certificate (id-kp-timeStamping, critical, alone).</exception>
    public TimeStampAuthority(ISigner signer, X509Certificate certificate, TimeProvider time, string policy = DefaultPolicy)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(time);
        if (!certificate.GetPublicKey().Equals(Org.BouncyCastle.Security.PublicKeyFactory.CreateKey(signer.SubjectPublicKeyInfo)))
        {
            throw new ArgumentException("the TSA certificate does not certify the signer's key", nameof(certificate));
        }

        Certificate = certificate;
        Policy = policy;
        _time = time;
        var signerInfo = new SignerInfoGeneratorBuilder()
            .Build(new SignerSignatureFactory(signer, SignatureAlgorithm.DefaultFor(signer.KeyKind)), certificate);
        var tokens = new TimeStampTokenGenerator(
            signerInfo,
            Asn1DigestFactory.Get(NistObjectIdentifiers.IdSha256),
            new DerObjectIdentifier(policy),
            true);
        tokens.SetAccuracySeconds(1);
        tokens.SetCertificates(CollectionUtilities.CreateStore(new[] { certificate }));
        _responses = new TimeStampResponseGenerator(tokens, AcceptedDigests);
    }

    public X509Certificate Certificate { get; }

    /// <summary>The TSA policy OID every token carries.</summary>
    public string Policy { get; }

    /// <summary>
    /// The DER TimeStampResp for <paramref name="request"/>: granted, or rejected with the RFC 3161
    /// failure info (badDataFormat for an unreadable request, badAlg for another digest).
    /// </summary>
    public byte[] Answer(byte[] request)
    {
        ArgumentNullException.ThrowIfNull(request);
        TimeStampRequest parsed;
        try
        {
            parsed = new TimeStampRequest(request);
        }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidCastException or TspException)
        {
            return _responses.GenerateFailResponse(PkiStatus.Rejection, PkiFailureInfo.BadDataFormat, "not a DER TimeStampReq").GetEncoded();
        }

        var serial = new BigInteger(1, RandomNumberGenerator.GetBytes(16));
        // Whole seconds: the token says accuracy 1 s, and openssl prints genTime to the second.
        var now = _time.GetUtcNow();
        var genTime = new DateTime(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerSecond), DateTimeKind.Utc);
        return _responses.Generate(parsed, serial, genTime).GetEncoded();
    }
}
