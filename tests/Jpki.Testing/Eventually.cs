using System.Runtime.CompilerServices;
using Xunit;

namespace Jpki.Testing;

/// <summary>
/// Waiting for what another process or thread does (a feed applied, a child process up): polls a
/// condition until it holds and fails the test, naming what it waited for, once the limit has
/// passed. Bounded by construction: no test waits forever.
/// </summary>
public static class Eventually
{
    /// <summary>The limit when a test gives none: long for a loaded 2-core CI machine, short for a hang.</summary>
    public static readonly TimeSpan DefaultLimit = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan DefaultEvery = TimeSpan.FromMilliseconds(100);

    /// <param name="what">The condition's source text, filled in by the compiler: the failure names what did not happen.</param>
    public static Task HoldsAsync(Func<bool> condition, TimeSpan? limit = null, [CallerArgumentExpression(nameof(condition))] string what = "") =>
        HoldsAsync(() => Task.FromResult(condition()), () => what, limit);

    /// <param name="what">The condition's source text, filled in by the compiler.</param>
    public static Task HoldsAsync(Func<Task<bool>> condition, TimeSpan? limit = null, [CallerArgumentExpression(nameof(condition))] string what = "") =>
        HoldsAsync(condition, () => what, limit);

    /// <param name="what">Evaluated only on failure, so it may describe the state at that moment (a log tail).</param>
    public static async Task HoldsAsync(Func<Task<bool>> condition, Func<string> what, TimeSpan? limit = null, TimeSpan? every = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        ArgumentNullException.ThrowIfNull(what);
        var max = limit ?? DefaultLimit;
        var until = DateTime.UtcNow + max;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, $"not within {max.TotalSeconds:0} s: {what()}");
            await Task.Delay(every ?? DefaultEvery);
        }
    }

    /// <summary>
    /// Reads until <paramref name="done"/> holds of what was read, and returns that reading (a health
    /// answer, a status): the failure shows the last one read once <paramref name="limit"/> has passed.
    /// </summary>
    public static async Task<T> ReachesAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan? limit = null, TimeSpan? every = null)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(done);
        var max = limit ?? DefaultLimit;
        var until = DateTime.UtcNow + max;
        var last = await read();
        while (!done(last) && DateTime.UtcNow < until)
        {
            await Task.Delay(every ?? TimeSpan.FromMilliseconds(200));
            last = await read();
        }

        Assert.True(done(last), $"not reached within {max.TotalSeconds:0} s; last: {last}");
        return last;
    }
}
