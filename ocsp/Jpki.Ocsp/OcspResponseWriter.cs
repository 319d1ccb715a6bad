using System.Formats.Asn1;
using System.Security.Cryptography;
using Jpki.Core.Revocation;

namespace Jpki.Ocsp;

/// <summary>A signed OCSPResponse and what the cache and HTTP headers need to know about it.</summary>
public sealed class SignedAnswer
{
    public required byte[] Der { get; init; }

    public required CertId CertId { get; init; }

    public required StoredStatus Status { get; init; }

    public required DateTimeOffset ThisUpdate { get; init; }

    public required DateTimeOffset NextUpdate { get; init; }

    public required DateTimeOffset ProducedAt { get; init; }

    /// <summary>
    /// When the responder signed the answer, to the clock's precision: <see cref="ProducedAt"/> is
    /// encoded in whole seconds, so only this instant is never before a revocation the answer shows
    /// (the auditors' trail measures from it).
    /// </summary>
    public DateTimeOffset SignedAt { get; init; }

    public required bool HasNonce { get; init; }

    /// <summary>A strong validator for RFC 5019 §6.2: the SHA-256 of the DER, quoted.</summary>
    public required string ETag { get; init; }

    /// <summary>The issuer key whose responder signed it (the cache checks it is still served before a hit).</summary>
    public string IssuerKeyId { get; init; } = "";

    /// <summary>
    /// What the answer costs the cache, counted against <c>ocsp.cacheMegabytes</c>: the DER, the key
    /// (the CertID's DER) and the CertID's parts, the strings the answer carries (UTF-16), plus
    /// <see cref="EntryOverheadBytes"/> for the objects and the dictionary node.
    /// </summary>
    public long CachedBytes =>
        Der.Length + CertId.Der.Length + CertId.HashAlgorithmDer.Length + CertId.IssuerNameHash.Length + CertId.IssuerKeyHash.Length
        + (2L * (ETag.Length + IssuerKeyId.Length + CertId.HashAlgorithmOid.Length + (CertId.SerialHex?.Length ?? 0) + (2 * HttpDateLength)))
        + EntryOverheadBytes;

    /// <summary>
    /// Object headers and fields of the answer, its CertID and status records, the arrays' headers, the
    /// two header strings' headers and the dictionary node: measured with GC.GetAllocatedBytesForCurrentThread
    /// for one answer, rounded up.
    /// </summary>
    public const int EntryOverheadBytes = 480;

    private const int HttpDateLength = 29; // "Mon, 07 Dec 2026 14:00:00 GMT"

    private string? lastModified;
    private string? expires;

    /// <summary>Last-Modified (thisUpdate), formatted once per answer rather than per request.</summary>
    public string LastModifiedHeader => lastModified ??= ThisUpdate.ToString("R", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Expires (nextUpdate), formatted once per answer.</summary>
    public string ExpiresHeader => expires ??= NextUpdate.ToString("R", System.Globalization.CultureInfo.InvariantCulture);

    private long lastQueriedTicks;

    /// <summary>UTC ticks of the last query this answer served (refresh-ahead picks recently queried answers).</summary>
    public long LastQueriedTicks
    {
        get => Interlocked.Read(ref lastQueriedTicks);
        set => Interlocked.Exchange(ref lastQueriedTicks, value);
    }
}

/// <summary>The OCSP response statuses (RFC 6960 §4.2.1).</summary>
public enum OcspResponseStatus
{
    Successful = 0,
    MalformedRequest = 1,
    InternalError = 2,
    TryLater = 3,
    Unauthorized = 6,
}

/// <summary>
/// Writes OCSP responses as DER (RFC 6960 §4.2.1) and signs the ResponseData with the issuer
/// key's delegated responder in the HSM. Hand-written rather than BouncyCastle's generator: the
/// CertID is echoed byte for byte as asked (hash algorithm and its parameters included), and
/// nothing but the one signature is done per answer.
/// </summary>
public sealed class OcspResponseWriter(TimeSpan validity)
{
    private const string BasicResponseOid = "1.3.6.1.5.5.7.48.1.1";

    /// <summary>An unsigned error response: just the status (RFC 6960 §4.2.1, responseBytes absent).</summary>
    public static byte[] Error(OcspResponseStatus status)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteEnumeratedValue(status);
        }

        return writer.Encode();
    }

    /// <summary>
    /// Signs one SingleResponse. thisUpdate = producedAt = now (whole seconds); nextUpdate = now +
    /// validity, never past the responder certificate's notAfter.
    /// </summary>
    /// <exception cref="InvalidOperationException">The responder certificate has expired.</exception>
    public SignedAnswer Sign(ServedIssuer issuer, CertId certId, StoredStatus status, byte[]? nonce, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        ArgumentNullException.ThrowIfNull(certId);
        ArgumentNullException.ThrowIfNull(status);
        var thisUpdate = TruncateToSeconds(now);
        var nextUpdate = thisUpdate + validity;
        if (nextUpdate > issuer.ResponderNotAfter)
        {
            nextUpdate = TruncateToSeconds(issuer.ResponderNotAfter);
        }

        if (nextUpdate <= thisUpdate)
        {
            throw new InvalidOperationException($"the responder certificate {issuer.ResponderSerial} of {issuer.IssuerKeyId} expired at {issuer.ResponderNotAfter:u}");
        }

        var tbs = ResponseData(issuer, certId, status, nonce, thisUpdate, nextUpdate);
        var signature = issuer.ResponderSigner.Sign(issuer.Algorithm, tbs);

        var basic = new AsnWriter(AsnEncodingRules.DER);
        using (basic.PushSequence())
        {
            basic.WriteEncodedValue(tbs);
            basic.WriteEncodedValue(issuer.Algorithm.Identifier.GetDerEncoded());
            basic.WriteBitString(signature);
            using (basic.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            using (basic.PushSequence())
            {
                basic.WriteEncodedValue(issuer.ResponderCertificateDer);
            }
        }

        var response = new AsnWriter(AsnEncodingRules.DER);
        using (response.PushSequence())
        {
            response.WriteEnumeratedValue(OcspResponseStatus.Successful);
            using (response.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            using (response.PushSequence())
            {
                response.WriteObjectIdentifier(BasicResponseOid);
                response.WriteOctetString(basic.Encode());
            }
        }

        var der = response.Encode();
        return new SignedAnswer
        {
            Der = der,
            CertId = certId,
            Status = status,
            ThisUpdate = thisUpdate,
            NextUpdate = nextUpdate,
            ProducedAt = thisUpdate,
            SignedAt = now,
            HasNonce = nonce is not null,
            IssuerKeyId = issuer.IssuerKeyId,
            ETag = "\"" + Convert.ToHexStringLower(SHA256.HashData(der).AsSpan(0, 16)) + "\"",
        };
    }

    private static byte[] ResponseData(ServedIssuer issuer, CertId certId, StoredStatus status, byte[]? nonce, DateTimeOffset thisUpdate, DateTimeOffset nextUpdate)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            // version v1 is the DEFAULT: omitted. responderID byKey [2] EXPLICIT KeyHash.
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 2, isConstructed: true)))
            {
                writer.WriteOctetString(issuer.ResponderKeyHash);
            }

            writer.WriteGeneralizedTime(thisUpdate, omitFractionalSeconds: true);
            using (writer.PushSequence())
            using (writer.PushSequence())
            {
                writer.WriteEncodedValue(certId.Der);
                WriteCertStatus(writer, status);
                writer.WriteGeneralizedTime(thisUpdate, omitFractionalSeconds: true);
                using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                {
                    writer.WriteGeneralizedTime(nextUpdate, omitFractionalSeconds: true);
                }
            }

            if (nonce is not null)
            {
                // responseExtensions [1] EXPLICIT: the request's nonce, extnValue echoed as sent (RFC 9654).
                using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true)))
                using (writer.PushSequence())
                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier(OcspRequestReader.NonceOid);
                    writer.WriteOctetString(nonce);
                }
            }
        }

        return writer.Encode();
    }

    /// <summary>CertStatus: good [0] NULL, revoked [1] RevokedInfo (time, optional reason [0] EXPLICIT), unknown [2] NULL.</summary>
    private static void WriteCertStatus(AsnWriter writer, StoredStatus status)
    {
        switch (status.State)
        {
            case CertificateState.Good:
                writer.WriteNull(new Asn1Tag(TagClass.ContextSpecific, 0));
                break;
            case CertificateState.Revoked:
                using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true)))
                {
                    writer.WriteGeneralizedTime(TruncateToSeconds(status.RevokedAt!.Value), omitFractionalSeconds: true);
                    if (status.Reason is { } reason)
                    {
                        using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                        {
                            writer.WriteEnumeratedValue((RevocationReason)reason);
                        }
                    }
                }

                break;
            default:
                writer.WriteNull(new Asn1Tag(TagClass.ContextSpecific, 2));
                break;
        }
    }

    private static DateTimeOffset TruncateToSeconds(DateTimeOffset instant) =>
        new(instant.UtcTicks - (instant.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
}
