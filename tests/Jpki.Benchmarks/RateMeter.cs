using System.Diagnostics;

namespace Jpki.Benchmarks;

/// <summary>Operations per second of a loop run on N threads for a fixed window, and medians of rounds.</summary>
public static class RateMeter
{
    /// <summary>
    /// Runs <paramref name="op"/> (given its thread index) on <paramref name="threads"/> threads
    /// until <paramref name="window"/> has passed or <paramref name="op"/> returns false; returns
    /// completed operations per second. Warm-up calls are the caller's business.
    /// </summary>
    public static double Rate(int threads, TimeSpan window, Func<int, bool> op)
    {
        var counts = new long[threads];
        var stopwatch = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            long n = 0;
            while (stopwatch.Elapsed < window && op(t))
            {
                n++;
            }

            counts[t] = n;
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        return counts.Sum() / stopwatch.Elapsed.TotalSeconds;
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
