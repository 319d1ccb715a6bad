using System.Collections.Concurrent;
using System.Security.Cryptography;
using Org.BouncyCastle.X509;

namespace Jpki.Verifier;

/// <summary>
/// OCSP answers kept per certificate until their nextUpdate, shared by the verifications of one
/// process (the HTTP verification service): a burst of filings from one resident costs one query.
/// Concurrent verifications of the same certificate wait for the same query (one task per key).
/// Only answers that vouch for a status (good or revoked, with a nextUpdate) are kept; a failed or
/// unknown answer is asked again next time. With <see cref="VerifierOptions.RequireOcspNonce"/> the
/// cache is bypassed: a fresh nonce needs a fresh query. Thread-safe.
/// </summary>
public sealed class OcspAnswerCache(int maxEntries = 100_000)
{
    private readonly ConcurrentDictionary<string, Lazy<Task<(CheckOutcome Outcome, RevocationInfo Info)>>> _answers = new(StringComparer.Ordinal);
    private long _queries;
    private long _hits;

    /// <summary>Queries sent to a responder through this cache.</summary>
    public long Queries => Interlocked.Read(ref _queries);

    /// <summary>Verifications answered from a kept answer (or a query in flight).</summary>
    public long Hits => Interlocked.Read(ref _hits);

    public int Count => _answers.Count;

    internal async Task<(CheckOutcome, RevocationInfo)> GetOrQueryAsync(
        RevocationSource.Ocsp source, X509Certificate certificate, X509Certificate issuer, DateTimeOffset now,
        Func<Task<(CheckOutcome, RevocationInfo)>> query)
    {
        var key = $"{source.Url}|{Convert.ToHexString(SHA256.HashData(issuer.GetEncoded()))}|{certificate.SerialNumber.ToString(16)}";
        for (var attempt = 0; ; attempt++)
        {
            var mine = new Lazy<Task<(CheckOutcome, RevocationInfo)>>(() =>
            {
                Interlocked.Increment(ref _queries);
                return query();
            });
            var entry = _answers.GetOrAdd(key, mine);
            var shared = !ReferenceEquals(entry, mine);
            if (shared)
            {
                Interlocked.Increment(ref _hits);
            }

            var (outcome, info) = await entry.Value.ConfigureAwait(false);
            if (info.State is RevocationState.Good or RevocationState.Revoked && info.NextUpdate is { } next && next > now)
            {
                TrimIfFull(now);
                return (outcome, info);
            }

            // Not worth keeping (failed, unknown, or past its nextUpdate): dropped, so the next
            // verification asks again. A kept answer that has just expired is asked again now;
            // a failure of a query in flight is shared by those who waited for it.
            _answers.TryRemove(new KeyValuePair<string, Lazy<Task<(CheckOutcome, RevocationInfo)>>>(key, entry));
            var expired = shared && info.State is RevocationState.Good or RevocationState.Revoked;
            if (!expired || attempt > 0)
            {
                return (outcome, info);
            }
        }
    }

    private void TrimIfFull(DateTimeOffset now)
    {
        if (_answers.Count <= maxEntries)
        {
            return;
        }

        foreach (var (key, entry) in _answers)
        {
            if (entry.IsValueCreated && entry.Value.IsCompleted && (entry.Value.Result.Info.NextUpdate is not { } next || next <= now))
            {
                _answers.TryRemove(key, out _);
            }
        }

        if (_answers.Count > maxEntries)
        {
            _answers.Clear();
        }
    }
}
