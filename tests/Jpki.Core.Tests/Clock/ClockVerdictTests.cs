using Jpki.Core.Accounts;
using Jpki.Core.Clock;

namespace Jpki.Core.Tests.Clock;

/// <summary>What a reading means for signing, on a demonstration and on a production install.</summary>
public sealed class ClockVerdictTests
{
    private static readonly DateTimeOffset At = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Limit = TimeSpan.FromMilliseconds(1000);

    [Theory]
    [InlineData(true, 999.0, InstallMode.Demo, ClockState.Synchronised, true, false)]
    [InlineData(true, 1000.0, InstallMode.Production, ClockState.Synchronised, true, false)]
    [InlineData(true, 1000.5, InstallMode.Demo, ClockState.OffsetOutOfBounds, false, false)]
    [InlineData(true, 60_000.0, InstallMode.Production, ClockState.OffsetOutOfBounds, false, false)]
    [InlineData(false, 1.0, InstallMode.Demo, ClockState.Unsynchronised, false, false)]
    [InlineData(false, 1.0, InstallMode.Production, ClockState.Unsynchronised, false, false)]
    public void ReadableStatus(bool synchronised, double offsetMs, string mode, ClockState state, bool maySign, bool warning)
    {
        var verdict = ClockVerdict.Of(new ClockSyncReading("chrony", synchronised, TimeSpan.FromMilliseconds(offsetMs), "ntp.example", At), mode, Limit);

        Assert.Equal((state, maySign, warning), (verdict.State, verdict.MaySign, verdict.Warning));
    }

    [Fact]
    public void NoSourceWarnsOnADemoInstallAndRefusesOnAProductionOne()
    {
        var none = ClockSyncReading.NotReadable(ClockSyncReading.None, "chronyc cannot be run; timedatectl exited with 1", At);

        var demo = ClockVerdict.Of(none, InstallMode.Demo, Limit);
        var production = ClockVerdict.Of(none, InstallMode.Production, Limit);

        Assert.Equal((ClockState.NoSource, true, true, "warning"), (demo.State, demo.MaySign, demo.Warning, demo.Status));
        Assert.Contains("demonstration install signs anyway", demo.Reason, StringComparison.Ordinal);
        Assert.Equal((ClockState.NoSource, false, false, "refusing"), (production.State, production.MaySign, production.Warning, production.Status));
        Assert.Contains("chronyc cannot be run", production.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void SynchronisedWithoutAnOffsetCountsAsNoSource()
    {
        var verdict = ClockVerdict.Of(new ClockSyncReading("timesyncd", true, null, null, At), InstallMode.Production, Limit);

        Assert.Equal(ClockState.NoSource, verdict.State);
        Assert.False(verdict.MaySign);
        Assert.Contains("timesyncd gave no offset", verdict.Reason, StringComparison.Ordinal);
    }
}
