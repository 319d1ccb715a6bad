using Jpki.Core.Clock;

namespace Jpki.Testing;

/// <summary>
/// A clock-status source a test sets by hand (the issue allows this one fake: the machine's clock
/// is never changed). Counts its reads, so a test can show the status is cached, not read per
/// signature. The fixtures' services use <see cref="Synchronised"/> by default, so that other
/// tests do not depend on whether the machine running them has chrony or timesyncd.
/// </summary>
public sealed class FakeClockSyncSource(TimeProvider time) : IClockSyncSource
{
    private readonly Lock gate = new();
    private Func<DateTimeOffset, ClockSyncReading> next = at => new ClockSyncReading("fake", true, TimeSpan.FromMilliseconds(2), "fake.example", at);
    private int reads;

    public int Reads => Volatile.Read(ref reads);

    /// <summary>A source that says synchronised within 2 ms.</summary>
    public static FakeClockSyncSource Synchronised(TimeProvider? time = null) => new(time ?? TimeProvider.System);

    /// <summary>The daemon answers: synchronised or not, with this error bound.</summary>
    public void Set(bool synchronised, TimeSpan offset)
    {
        lock (gate)
        {
            next = at => new ClockSyncReading("fake", synchronised, offset, "fake.example", at);
        }
    }

    /// <summary>No daemon can be read.</summary>
    public void SetUnreadable(string reason = "no daemon in this test")
    {
        lock (gate)
        {
            next = at => ClockSyncReading.NotReadable(ClockSyncReading.None, reason, at);
        }
    }

    public ClockSyncReading Read()
    {
        Interlocked.Increment(ref reads);
        lock (gate)
        {
            return next(time.GetUtcNow());
        }
    }
}
