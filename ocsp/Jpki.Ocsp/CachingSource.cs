using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Jpki.Ocsp;

/// <summary>
/// Answers from memory while an answer is fresh (until <c>serveMargin</c> before its nextUpdate),
/// so a hit costs no signature; a miss asks the inner source once however many queries wait
/// for it. The status-change watcher calls <see cref="ResignSerialsAsync"/> so a revocation
/// replaces the cached 'good' at once, and <see cref="RefreshAheadAsync"/> re-signs recently
/// queried answers before they expire. An answer read before a change the watcher has already
/// reported is signed again rather than installed (see <see cref="StoredStatus.SnapshotChangeSeq"/>).
/// Memory is bounded by a budget of bytes (and optionally a count): past it the least recently
/// queried answers are evicted (see <see cref="EvictLeastRecentlyQueried"/>); a hit only stamps its
/// answer's last-query time. Keys are the CertID's DER, looked up from a span of the request
/// (<see cref="TryAnswerFromMemory"/>), so a hit allocates nothing.
/// </summary>
public sealed class CachingSource : IAnswerSource
{
    private readonly SigningSource inner;
    private readonly IssuerDirectory directory;
    private readonly FirstRevokedRecorder firstRevoked;
    private readonly TimeProvider time;
    private readonly TimeSpan serveMargin;
    private readonly AnswerCacheBudget budget;
    private readonly Action<bool>? lookedUp;

    private readonly ConcurrentDictionary<byte[], SignedAnswer> answers = new(DerKeyComparer.Instance);
    private readonly ConcurrentDictionary<byte[], SignedAnswer>.AlternateLookup<ReadOnlySpan<byte>> bySpan;
    private readonly Lock evicting = new();
    private long evictions;
    private long bytes;
    private readonly ConcurrentDictionary<byte[], Lazy<Task<SignedAnswer>>> inFlight = new(DerKeyComparer.Instance);

    // serial → (change_seq, when reported): consulted when an answer is installed.
    private readonly ConcurrentDictionary<string, (long ChangeSeq, long ReportedTicks)> latestChange = new(StringComparer.Ordinal);

    public CachingSource(SigningSource inner, IssuerDirectory directory, FirstRevokedRecorder firstRevoked, TimeProvider time, TimeSpan serveMargin, AnswerCacheBudget budget, Action<bool>? lookedUp = null)
    {
        ArgumentNullException.ThrowIfNull(budget);
        this.inner = inner;
        this.directory = directory;
        this.firstRevoked = firstRevoked;
        this.time = time;
        this.serveMargin = serveMargin;
        this.budget = budget;
        this.lookedUp = lookedUp;
        bySpan = answers.GetAlternateLookup<ReadOnlySpan<byte>>();
    }

    public int Count => answers.Count;

    /// <summary>The entry cap (<c>ocsp.maxCachedAnswers</c>), if one is set.</summary>
    public int? Capacity => budget.MaxEntries;

    /// <summary>The memory budget in bytes (<c>ocsp.cacheMegabytes</c>).</summary>
    public long BudgetBytes => budget.MaxBytes;

    /// <summary>Bytes of the cached answers and their keys, as <see cref="SignedAnswer.CachedBytes"/> counts them.</summary>
    public long Bytes => Interlocked.Read(ref bytes);

    /// <summary>Answers evicted for room since start.</summary>
    public long Evictions => Interlocked.Read(ref evictions);

    /// <summary>
    /// The hot path: a fresh cached answer for this CertID (its DER, a span of the request) whose
    /// issuer key is still served, stamped as queried and counted as a hit. False means "ask the
    /// full path", which counts its own hit or miss; nothing is allocated either way.
    /// </summary>
    public bool TryAnswerFromMemory(ReadOnlySpan<byte> certIdDer, [NotNullWhen(true)] out SignedAnswer? answer)
    {
        var now = time.GetUtcNow();
        if (bySpan.TryGetValue(certIdDer, out var cached) && now < cached.NextUpdate - serveMargin && directory.Serves(cached.IssuerKeyId))
        {
            cached.LastQueriedTicks = now.UtcTicks;
            lookedUp?.Invoke(true);
            answer = cached;
            return true;
        }

        answer = null;
        return false;
    }

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

    /// <summary>Re-signs every cached answer of an issuer key with its current responder (or drops it when the key is no longer served); returns how many.</summary>
    public async Task<int> ResignIssuerAsync(string issuerKeyId, CancellationToken cancellationToken)
    {
        var affected = answers.Where(a => a.Value.IssuerKeyId == issuerKeyId).ToList();
        foreach (var (key, answer) in affected)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await ResignAsync(key, answer);
        }

        return affected.Count;
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
                Remove(key, answer);
            }
        }

        return refreshed;
    }

    private async Task ResignAsync(byte[] key, SignedAnswer answer)
    {
        // The responder may have been renewed since: sign with the current one.
        if (directory.Find(answer.CertId) is not { } issuer)
        {
            Remove(key, answer);
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
            inFlight.TryRemove(new KeyValuePair<byte[], Lazy<Task<SignedAnswer>>>(query.CacheKey, lazy));
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
        Install(query.CacheKey, answer);
        if (OverBudget(0))
        {
            EvictLeastRecentlyQueried();
        }

        if (answer.Status.State == CertificateState.Revoked && answer.CertId.SerialHex is { } revoked)
        {
            firstRevoked.Installed(revoked, answer.ProducedAt, answer.SignedAt);
        }

        return answer;
    }

    /// <summary>Adds or replaces the answer (an answer read before the one cached is not installed), keeping <see cref="Bytes"/> exact.</summary>
    private void Install(byte[] key, SignedAnswer answer)
    {
        while (true)
        {
            if (answers.TryGetValue(key, out var old))
            {
                if (old.Status.SnapshotChangeSeq > answer.Status.SnapshotChangeSeq)
                {
                    return;
                }

                if (answers.TryUpdate(key, answer, old))
                {
                    Interlocked.Add(ref bytes, answer.CachedBytes - old.CachedBytes);
                    return;
                }
            }
            else if (answers.TryAdd(key, answer))
            {
                Interlocked.Add(ref bytes, answer.CachedBytes);
                return;
            }
        }
    }

    private bool Remove(byte[] key, SignedAnswer answer)
    {
        if (!answers.TryRemove(new KeyValuePair<byte[], SignedAnswer>(key, answer)))
        {
            return false;
        }

        Interlocked.Add(ref bytes, -answer.CachedBytes);
        return true;
    }

    /// <summary>Over the budget, or (with <paramref name="slack"/> sixteenths of it taken off) over the level an eviction pass brings it down to.</summary>
    private bool OverBudget(int slack) =>
        Bytes > budget.MaxBytes - (budget.MaxBytes * slack / 16)
        || (budget.MaxEntries is { } max && answers.Count > max - (max * slack / 16));

    /// <summary>
    /// Brings the cache back under its budget by dropping the answers queried longest ago. One pass
    /// at a time; it removes down to 15/16 of the budget (bytes, and entries when a count is set), so
    /// a full cache pays one sort of its entries per 1/16 of the budget of new answers (amortised
    /// O(log n) per miss) while hits stay lock-free. An evicted answer is simply signed again when next asked.
    /// </summary>
    private void EvictLeastRecentlyQueried()
    {
        if (!evicting.TryEnter())
        {
            return; // another thread is evicting; this answer is counted in its pass or the next
        }

        try
        {
            if (!OverBudget(1))
            {
                return;
            }

            var oldest = answers.ToArray();
            Array.Sort(oldest, (a, b) => a.Value.LastQueriedTicks.CompareTo(b.Value.LastQueriedTicks));
            for (var i = 0; i < oldest.Length && OverBudget(1); i++)
            {
                if (Remove(oldest[i].Key, oldest[i].Value))
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
