using System.Collections.Concurrent;
using Jpki.Core.Store;

namespace Jpki.Ocsp;

/// <summary>One query the responder answers: whose CertID, for which served issuer key, asked by whom.</summary>
public sealed record OcspQuery(ServedIssuer Issuer, CertId CertId, string Verifier)
{
    /// <summary>The CertID's DER names exactly one answer (hash algorithm, issuer hashes and serial are all echoed).</summary>
    public string CacheKey { get; } = Issuer.IssuerKeyId + "|" + Convert.ToBase64String(CertId.Der);
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

/// <summary>
/// Answers from memory while an answer is fresh (until <c>serveMargin</c> before its nextUpdate),
/// so a hit costs no signature; a miss asks the inner source once however many queries wait
/// for it. The status-change watcher calls <see cref="ResignSerialsAsync"/> so a revocation
/// replaces the cached 'good' at once, and <see cref="RefreshAheadAsync"/> re-signs recently
/// queried answers before they expire. An answer read before a change the watcher has already
/// reported is signed again rather than installed (see <see cref="StoredStatus.SnapshotChangeSeq"/>).
/// Memory is bounded: past <c>maxEntries</c> answers the least recently queried ones are evicted
/// (see <see cref="EvictLeastRecentlyQueried"/>); a hit only stamps its answer's last-query time.
/// </summary>
public sealed class CachingSource(SigningSource inner, IssuerDirectory directory, FirstRevokedRecorder firstRevoked, TimeProvider time, TimeSpan serveMargin, int maxEntries, Action<bool>? lookedUp = null) : IAnswerSource
{
    private readonly ConcurrentDictionary<string, SignedAnswer> answers = new(StringComparer.Ordinal);
    private readonly Lock evicting = new();
    private long evictions;
    private readonly ConcurrentDictionary<string, Lazy<Task<SignedAnswer>>> inFlight = new(StringComparer.Ordinal);

    // serial → (change_seq, when reported): consulted when an answer is installed.
    private readonly ConcurrentDictionary<string, (long ChangeSeq, long ReportedTicks)> latestChange = new(StringComparer.Ordinal);

    public int Count => answers.Count;

    public int Capacity => maxEntries;

    /// <summary>Answers evicted for room since start.</summary>
    public long Evictions => Interlocked.Read(ref evictions);

    public async Task<SignedAnswer> AnswerAsync(OcspQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var now = time.GetUtcNow();
        if (answers.TryGetValue(query.CacheKey, out var cached) && now < cached.NextUpdate - serveMargin)
        {
            cached.LastQueriedTicks = now.UtcTicks;
            lookedUp?.Invoke(true);
            return cached;
        }

        lookedUp?.Invoke(false);
        var answer = await SignOnceAsync(query, now.UtcTicks);
        answer.LastQueriedTicks = now.UtcTicks;
        return answer;
    }

    /// <summary>Re-signs every cached answer about these serials (they changed at <paramref name="changeSeq"/> or before).</summary>
    public async Task ResignSerialsAsync(IReadOnlyDictionary<string, long> changedSerials, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changedSerials);
        var nowTicks = time.GetUtcNow().UtcTicks;
        foreach (var (serial, seq) in changedSerials)
        {
            latestChange[serial] = (seq, nowTicks);
        }

        // An answer read after the change already reflects it (a query right after issuance, say): no second signature.
        var affected = answers
            .Where(a => a.Value.CertId.SerialHex is { } s && changedSerials.TryGetValue(s, out var seq) && a.Value.Status.SnapshotChangeSeq < seq)
            .ToList();
        foreach (var (key, answer) in affected)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await ResignAsync(key, answer);
        }

        // A reported change only matters to reads that began before it; a minute is far longer than any read.
        var forgetBefore = nowTicks - TimeSpan.TicksPerMinute;
        foreach (var (serial, change) in latestChange)
        {
            if (change.ReportedTicks < forgetBefore)
            {
                latestChange.TryRemove(new KeyValuePair<string, (long, long)>(serial, change));
            }
        }
    }

    /// <summary>
    /// Re-signs answers queried within <paramref name="recentWindow"/> whose nextUpdate is less than
    /// <paramref name="ahead"/> away, and drops expired answers nobody asked for lately. Returns how many were re-signed.
    /// </summary>
    public async Task<int> RefreshAheadAsync(TimeSpan ahead, TimeSpan recentWindow, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var refreshed = 0;
        foreach (var (key, answer) in answers)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (answer.NextUpdate - now > ahead)
            {
                continue;
            }

            var recentlyQueried = now.UtcTicks - answer.LastQueriedTicks < recentWindow.Ticks;
            if (recentlyQueried)
            {
                await ResignAsync(key, answer);
                refreshed++;
            }
            else if (answer.NextUpdate <= now)
            {
                answers.TryRemove(new KeyValuePair<string, SignedAnswer>(key, answer));
            }
        }

        return refreshed;
    }

    private async Task ResignAsync(string key, SignedAnswer answer)
    {
        // The responder may have been renewed since: sign with the current one.
        if (directory.Find(answer.CertId) is not { } issuer)
        {
            answers.TryRemove(new KeyValuePair<string, SignedAnswer>(key, answer));
            return;
        }

        // A re-signed answer keeps its last-query time: refreshing is not a use.
        await SignOnceAsync(new OcspQuery(issuer, answer.CertId, SigningSource.SystemVerifier), answer.LastQueriedTicks);
    }

    private async Task<SignedAnswer> SignOnceAsync(OcspQuery query, long lastQueriedTicks)
    {
        var lazy = inFlight.GetOrAdd(query.CacheKey, _ => new Lazy<Task<SignedAnswer>>(() => SignAndInstallAsync(query, lastQueriedTicks)));
        try
        {
            return await lazy.Value;
        }
        finally
        {
            inFlight.TryRemove(new KeyValuePair<string, Lazy<Task<SignedAnswer>>>(query.CacheKey, lazy));
        }
    }

    private async Task<SignedAnswer> SignAndInstallAsync(OcspQuery query, long lastQueriedTicks)
    {
        SignedAnswer answer;
        var attempts = 0;
        do
        {
            // Not the caller's token: waiters share this signature, and it is worth finishing.
            answer = await inner.AnswerAsync(query, CancellationToken.None);
        }
        while (++attempts < 3
            && query.CertId.SerialHex is { } serial
            && latestChange.TryGetValue(serial, out var change)
            && change.ChangeSeq > answer.Status.SnapshotChangeSeq);

        // Stamped before it is visible, so an eviction running now does not take it for the oldest.
        answer.LastQueriedTicks = lastQueriedTicks;
        answers.AddOrUpdate(
            query.CacheKey,
            answer,
            (_, old) => old.Status.SnapshotChangeSeq > answer.Status.SnapshotChangeSeq ? old : answer);
        if (answers.Count > maxEntries)
        {
            EvictLeastRecentlyQueried();
        }

        if (answer.Status.State == CertificateState.Revoked && answer.CertId.SerialHex is { } revoked)
        {
            firstRevoked.Installed(revoked, answer.ProducedAt);
        }

        return answer;
    }

    /// <summary>
    /// Brings the cache back under its cap by dropping the answers queried longest ago. One pass at
    /// a time; it removes down to <c>maxEntries − maxEntries/16</c>, so a full cache pays one sort of
    /// its entries per maxEntries/16 new answers (amortised O(log n) per miss) while hits stay
    /// lock-free. An evicted answer is simply signed again when next asked.
    /// </summary>
    private void EvictLeastRecentlyQueried()
    {
        if (!evicting.TryEnter())
        {
            return; // another thread is evicting; this answer is counted in its pass or the next
        }

        try
        {
            var excess = answers.Count - (maxEntries - (maxEntries / 16));
            if (excess <= 0)
            {
                return;
            }

            var oldest = answers.ToArray();
            Array.Sort(oldest, (a, b) => a.Value.LastQueriedTicks.CompareTo(b.Value.LastQueriedTicks));
            for (var i = 0; i < excess && i < oldest.Length; i++)
            {
                if (answers.TryRemove(oldest[i]))
                {
                    Interlocked.Increment(ref evictions);
                }
            }
        }
        finally
        {
            evicting.Exit();
        }
    }
}
