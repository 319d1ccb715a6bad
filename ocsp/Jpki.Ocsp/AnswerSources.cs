using Jpki.Core.Store;

namespace Jpki.Ocsp;

/// <summary>One query the responder answers: whose CertID, for which served issuer key, asked by whom.</summary>
public sealed record OcspQuery(ServedIssuer Issuer, CertId CertId, string Verifier)
{
    /// <summary>
    /// The CertID's DER names exactly one answer (hash algorithm, issuer hashes and serial are all
    /// echoed), and its issuer hashes name one issuer key, so the bytes alone are the key.
    /// </summary>
    public byte[] CacheKey => CertId.Der;
}

/// <summary>
/// Compares cache keys (DER bytes) by content, and lets a lookup use a span of the request being
/// read (no array, no string made per query). The hash is <see cref="HashCode"/>'s, seeded per
/// process, so CertIDs chosen by a client cannot be made to collide.
/// </summary>
public sealed class DerKeyComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
{
    public static readonly DerKeyComparer Instance = new();

    public bool Equals(byte[]? x, byte[]? y) => x is null ? y is null : y is not null && x.AsSpan().SequenceEqual(y);

    public int GetHashCode(byte[] obj) => GetHashCode((ReadOnlySpan<byte>)obj);

    public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => other is not null && alternate.SequenceEqual(other);

    public int GetHashCode(ReadOnlySpan<byte> alternate)
    {
        var hash = default(HashCode);
        hash.AddBytes(alternate);
        return hash.ToHashCode();
    }

    public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
}

/// <summary>
/// What the answer cache may hold: <see cref="MaxBytes"/> of answers and keys as
/// <see cref="SignedAnswer.CachedBytes"/> counts them (<c>ocsp.cacheMegabytes</c>), and, when set,
/// at most <see cref="MaxEntries"/> answers (<c>ocsp.maxCachedAnswers</c>, the older setting).
/// </summary>
public sealed record AnswerCacheBudget(long MaxBytes, int? MaxEntries = null)
{
    public const long BytesPerMegabyte = 1024 * 1024;

    public static AnswerCacheBudget From(double megabytes, int? maxEntries) => new((long)(megabytes * BytesPerMegabyte), maxEntries);
}

/// <summary>
/// A link of the responder's chain, as in Boulder's ocsp-responder: the caching source in front,
/// the signing source behind it, the store behind that.
/// </summary>
public interface IAnswerSource
{
    Task<SignedAnswer> AnswerAsync(OcspQuery query, CancellationToken cancellationToken);
}

/// <summary>The verifier spent its budget of signatures for never-issued serials: answer tryLater.</summary>
public sealed class UnknownSerialBudgetExceededException(string verifier)
    : Exception($"verifier '{verifier}' is over its budget of signatures for unknown serials");

/// <summary>
/// Reads the certificate's status from the store and signs a fresh answer (one HSM signature).
/// Serials never issued cost a signature each and cannot be pre-signed, so they are charged to
/// the asking verifier's budget; the status-change watcher and refresh-ahead ask as 'system'
/// and are not charged.
/// </summary>
public sealed class SigningSource(Database database, OcspResponseWriter writer, RateBudget unknownBudget, TimeProvider time) : IAnswerSource
{
    public const string SystemVerifier = "system";

    public async Task<SignedAnswer> AnswerAsync(OcspQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var status = await ReadStatusAsync(query, cancellationToken);
        if (status.State == CertificateState.Unknown && query.Verifier != SystemVerifier && !unknownBudget.TryTake(query.Verifier))
        {
            throw new UnknownSerialBudgetExceededException(query.Verifier);
        }

        return writer.Sign(query.Issuer, query.CertId, status, nonce: null, time.GetUtcNow());
    }

    /// <summary>A live answer carrying the request's nonce (RFC 9654); never cached.</summary>
    public async Task<SignedAnswer> AnswerWithNonceAsync(OcspQuery query, byte[] nonce, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var status = await ReadStatusAsync(query, cancellationToken);
        if (status.State == CertificateState.Unknown && !unknownBudget.TryTake(query.Verifier))
        {
            throw new UnknownSerialBudgetExceededException(query.Verifier);
        }

        return writer.Sign(query.Issuer, query.CertId, status, nonce, time.GetUtcNow());
    }

    private async Task<StoredStatus> ReadStatusAsync(OcspQuery query, CancellationToken cancellationToken)
    {
        await using var db = await database.OpenConnectionAsync(cancellationToken);
        if (query.CertId.SerialHex is not { } serial)
        {
            // Zero or negative: no CA of this install issues such a serial.
            return new StoredStatus(CertificateState.Unknown, null, null, OcspStore.LastChangeSeq(db));
        }

        return OcspStore.ReadStatus(db, query.Issuer.IssuerKeyId, serial);
    }
}
