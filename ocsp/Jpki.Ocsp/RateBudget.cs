using System.Collections.Concurrent;

namespace Jpki.Ocsp;

/// <summary>
/// A token bucket per verifier: <c>burst</c> signatures at once, refilled at <c>perMinute</c>.
/// Bounds what one verifier can make the HSM sign for nonces and for never-issued serials.
/// </summary>
public sealed class RateBudget(int burst, int perMinute, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Bucket> buckets = new(StringComparer.Ordinal);

    public bool TryTake(string verifier)
    {
        ArgumentNullException.ThrowIfNull(verifier);
        var bucket = buckets.GetOrAdd(verifier, _ => new Bucket(burst, time.GetTimestamp()));
        lock (bucket)
        {
            var now = time.GetTimestamp();
            var elapsed = time.GetElapsedTime(bucket.LastTimestamp, now);
            bucket.Tokens = Math.Min(burst, bucket.Tokens + (elapsed.TotalMinutes * perMinute));
            bucket.LastTimestamp = now;
            if (bucket.Tokens < 1)
            {
                return false;
            }

            bucket.Tokens -= 1;
            return true;
        }
    }

    private sealed class Bucket(double tokens, long lastTimestamp)
    {
        public double Tokens { get; set; } = tokens;

        public long LastTimestamp { get; set; } = lastTimestamp;
    }
}
