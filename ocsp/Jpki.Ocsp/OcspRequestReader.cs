using System.Formats.Asn1;
using System.Numerics;

namespace Jpki.Ocsp;

/// <summary>One CertID as asked: the raw DER (echoed in the answer) and its parts.</summary>
/// <param name="HashAlgorithmOid">The CertID's hash algorithm (SHA-1 or SHA-256 from verifiers).</param>
/// <param name="HashAlgorithmDer">The AlgorithmIdentifier as sent (with or without NULL parameters): part of the cache key, since the answer echoes it.</param>
/// <param name="SerialHex">Lowercase hex of the serial's DER content octets, as the store keeps it; null for a serial no CA issues (zero or negative).</param>
public sealed record CertId(byte[] Der, string HashAlgorithmOid, byte[] HashAlgorithmDer, byte[] IssuerNameHash, byte[] IssuerKeyHash, string? SerialHex);

/// <summary>A request that could be read: its CertID and the nonce extension as sent (extnValue contents), if any.</summary>
public sealed record OcspRequest(CertId CertId, byte[]? Nonce);

/// <summary>The request is not an OCSPRequest this responder answers: answer malformedRequest.</summary>
public sealed class MalformedOcspRequestException(string message) : Exception(message);

/// <summary>
/// Reads an OCSPRequest (RFC 6960 §4.1.1) with System.Formats.Asn1. Policy on several CertIDs:
/// RFC 5019 §2.1.1 says a request carries exactly one, and answering more would let one HTTP
/// request cost several HSM signatures, so a request with more than one Request is malformed.
/// A signed request's signature is ignored (access is decided by the listener's policy).
/// </summary>
public static class OcspRequestReader
{
    public const string NonceOid = "1.3.6.1.5.5.7.48.1.2";

    /// <summary>RFC 9654 §2.1: a responder rejects nonces longer than 128 octets.</summary>
    public const int MaxNonceLength = 128;

    /// <exception cref="MalformedOcspRequestException">Not a well-formed single-CertID request.</exception>
    public static OcspRequest Read(ReadOnlyMemory<byte> der)
    {
        try
        {
            return ReadCore(der);
        }
        catch (AsnContentException e)
        {
            throw new MalformedOcspRequestException("not a DER OCSPRequest: " + e.Message);
        }
    }

    /// <summary>
    /// The hot path's reader: where the CertID lies in a request of the plainest shape (one Request,
    /// no version, requestor name, extensions or signature — what verifiers and the cache-friendly
    /// RFC 5019 profile send), found with span reads of the DER framing only, nothing allocated.
    /// False for any other shape; then <see cref="Read"/> decides. A CertID found here is not yet
    /// checked: the caller uses it only to find a cached answer, whose key is a CertID that
    /// <see cref="Read"/> accepted byte for byte.
    /// </summary>
    public static bool TryFindPlainCertId(ReadOnlySpan<byte> der, out Range certId)
    {
        // OCSPRequest → TBSRequest → requestList → Request → CertID, each the only element of its parent.
        certId = default;
        var start = 0;
        var level = der;
        for (var depth = 0; depth < 5; depth++)
        {
            if (!AsnDecoder.TryReadEncodedValue(level, AsnEncodingRules.DER, out var tag, out var offset, out var length, out var consumed)
                || tag != Asn1Tag.Sequence
                || consumed != level.Length)
            {
                return false;
            }

            if (depth == 4)
            {
                certId = new Range(start, start + consumed);
                return true;
            }

            start += offset;
            level = level.Slice(offset, length);
        }

        return false;
    }

    private static OcspRequest ReadCore(ReadOnlyMemory<byte> der)
    {
        var outer = new AsnReader(der, AsnEncodingRules.DER);
        var request = outer.ReadSequence();
        outer.ThrowIfNotEmpty();
        var tbs = request.ReadSequence();

        // optionalSignature [0] may follow; nothing else.
        if (request.HasData)
        {
            request.ReadEncodedValue();
            request.ThrowIfNotEmpty();
        }

        SkipVersionAndRequestor(tbs);
        var list = tbs.ReadSequence();
        var entries = new List<ReadOnlyMemory<byte>>();
        while (list.HasData)
        {
            entries.Add(list.ReadEncodedValue());
        }

        if (entries.Count != 1)
        {
            throw new MalformedOcspRequestException(entries.Count == 0
                ? "the request lists no CertID"
                : $"the request lists {entries.Count} CertIDs; this responder answers one per request (RFC 5019 §2.1.1)");
        }

        byte[]? nonce = null;
        var extensions2 = new Asn1Tag(TagClass.ContextSpecific, 2, isConstructed: true);
        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(extensions2))
        {
            nonce = ReadNonce(tbs.ReadSequence(extensions2));
        }

        tbs.ThrowIfNotEmpty();

        var single = new AsnReader(entries[0], AsnEncodingRules.DER).ReadSequence();
        var certIdDer = single.ReadEncodedValue().ToArray();
        if (single.HasData)
        {
            single.ReadEncodedValue(); // singleRequestExtensions: none we act on.
        }

        single.ThrowIfNotEmpty();
        return new OcspRequest(ReadCertId(certIdDer), nonce);
    }

    /// <summary>The optional version [0] (v1 only) and requestorName [1] of a TBSRequest.</summary>
    private static void SkipVersionAndRequestor(AsnReader tbs)
    {
        var version0 = new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true);
        if (tbs.PeekTag().HasSameClassAndValue(version0))
        {
            var version = tbs.ReadSequence(version0);
            if (version.ReadInteger() != BigInteger.Zero)
            {
                throw new MalformedOcspRequestException("only OCSP request version v1 exists");
            }

            version.ThrowIfNotEmpty();
        }

        if (tbs.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true)))
        {
            tbs.ReadEncodedValue(); // requestorName: not used for access.
        }
    }

    private static CertId ReadCertId(byte[] der)
    {
        var certId = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        var algorithmDer = certId.ReadEncodedValue().ToArray();
        var algorithm = new AsnReader(algorithmDer, AsnEncodingRules.DER).ReadSequence();
        var oid = algorithm.ReadObjectIdentifier();
        if (algorithm.HasData)
        {
            algorithm.ReadNull();
        }

        algorithm.ThrowIfNotEmpty();
        var nameHash = certId.ReadOctetString();
        var keyHash = certId.ReadOctetString();
        var serial = certId.ReadIntegerBytes();
        certId.ThrowIfNotEmpty();
        var serialHex = serial.Length > 0 && (serial.Span[0] & 0x80) == 0 && !(serial.Length == 1 && serial.Span[0] == 0)
            ? Convert.ToHexStringLower(serial.Span)
            : null;
        return new CertId(der, oid, algorithmDer, nameHash, keyHash, serialHex);
    }

    /// <summary>The nonce's extnValue contents (an OCTET STRING per RFC 9654), or null if there is none.</summary>
    private static byte[]? ReadNonce(AsnReader extensions)
    {
        var list = extensions.ReadSequence();
        extensions.ThrowIfNotEmpty();
        byte[]? nonce = null;
        while (list.HasData)
        {
            var extension = list.ReadSequence();
            var oid = extension.ReadObjectIdentifier();
            if (extension.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean))
            {
                extension.ReadBoolean();
            }

            var value = extension.ReadOctetString();
            extension.ThrowIfNotEmpty();
            if (oid == NonceOid)
            {
                if (nonce is not null)
                {
                    throw new MalformedOcspRequestException("the nonce extension appears twice");
                }

                nonce = value;
            }
        }

        if (nonce is not null)
        {
            // RFC 9654: the extnValue is an OCTET STRING of 1–128 octets. Some old clients sent
            // the octets unwrapped; their length is what counts then.
            var length = nonce.Length;
            try
            {
                var inner = new AsnReader(nonce, AsnEncodingRules.DER);
                var octets = inner.ReadOctetString();
                if (!inner.HasData)
                {
                    length = octets.Length;
                }
            }
            catch (AsnContentException)
            {
            }

            if (length is 0 or > MaxNonceLength)
            {
                throw new MalformedOcspRequestException($"a nonce of {length} octets (RFC 9654 allows 1–{MaxNonceLength})");
            }
        }

        return nonce;
    }
}
