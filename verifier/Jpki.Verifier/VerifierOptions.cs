using System.Collections.Immutable;
using Org.BouncyCastle.X509;

namespace Jpki.Verifier;

/// <summary>Where the certificate's status comes from.</summary>
public abstract record RevocationSource
{
    private RevocationSource()
    {
    }

    /// <summary>No source: the status stays unknown and the verification fails with RevocationUnknown.</summary>
    public sealed record None : RevocationSource;

    /// <summary>
    /// An RFC 6960 request POSTed to <paramref name="Url"/> with <c>Authorization: Bearer <paramref name="Token"/></c>
    /// (the JPKI responder answers registered verifiers only).
    /// </summary>
    public sealed record Ocsp(Uri Url, string? Token) : RevocationSource;

    /// <summary>
    /// An OCSP answer kept from an earlier check (evidence, docs/decisions/0350): checked as a fresh
    /// one would be (signer, CertID, thisUpdate/nextUpdate at the validation clock), without a nonce.
    /// </summary>
    public sealed record OcspAnswer(ImmutableArray<byte> Der) : RevocationSource;

    /// <summary>CRL files (DER or PEM): complete CRLs (full or the municipality partition) and optionally their deltas.</summary>
    public sealed record Crls(ImmutableArray<byte[]> Encoded) : RevocationSource
    {
        public static Crls FromFiles(IEnumerable<string> paths) => new(paths.Select(File.ReadAllBytes).ToImmutableArray());
    }
}

/// <summary>What a verification trusts and asks.</summary>
public sealed record VerifierOptions
{
    /// <summary>JPKI signing certificate policy (docs/jpki-profile.md §3).</summary>
    public const string SigningPolicy = "1.2.392.200149.8.5.1.1.20";

    /// <summary>The trust anchors: the self-signed roots of every key generation (see <see cref="TrustAnchors"/>).</summary>
    public required ImmutableArray<X509Certificate> Roots { get; init; }

    public RevocationSource Revocation { get; init; } = new RevocationSource.None();

    /// <summary>The time the certificate must be valid at (e.g. the filing's receipt time); null: now.</summary>
    public DateTimeOffset? ValidationTime { get; init; }

    /// <summary>The clock for "now" (freshness of OCSP answers and CRLs).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Tolerated clock difference for thisUpdate/nextUpdate.</summary>
    public TimeSpan ClockSkew { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Policies a signing certificate may carry (any one suffices).</summary>
    public ImmutableArray<string> AcceptedPolicies { get; init; } = [SigningPolicy];

    /// <summary>Require the OCSP responder to echo the request's nonce (the JPKI responder omits it once a verifier's nonce budget is spent).</summary>
    public bool RequireOcspNonce { get; init; }

    /// <summary>Keeps OCSP answers until their nextUpdate across verifications (null: every verification asks).</summary>
    public OcspAnswerCache? OcspCache { get; init; }

    /// <summary>The HTTP client for OCSP (null: one made per verification, 15 s timeout).</summary>
    public HttpClient? Http { get; init; }
}
