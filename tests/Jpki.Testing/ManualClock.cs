namespace Jpki.Testing;

/// <summary>
/// A wall clock tests move by hand; thread-safe. Only <see cref="GetUtcNow"/> is manual: timers,
/// delays and timestamps stay real (the simulator's fault windows follow this clock while its slow
/// answers and the change generator's pacing take real time).
/// </summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private long utcTicks = start.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref utcTicks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref utcTicks, by.Ticks);
}
