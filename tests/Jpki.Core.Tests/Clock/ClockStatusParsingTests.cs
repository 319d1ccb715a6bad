using Jpki.Core.Clock;

namespace Jpki.Core.Tests.Clock;

/// <summary>The daemons' status output as the services read it.</summary>
public sealed class ClockStatusParsingTests
{
    /// <summary>
    /// A stratum-1 server's <c>chronyc tracking</c>, published live at https://ag6qr.net/timeserverstatus
    /// (Reference ID 50505300 (PPS), System time 0.000000072 seconds fast of NTP time, Root delay
    /// 0.000000001, Root dispersion 0.000011804, Leap status Normal), written as <c>chronyc -c</c>
    /// prints it: chrony's client.c print_report in CSV mode prints %R as 8 hex digits, %T as
    /// seconds since the epoch, %O signed (positive = slow, so "fast" is negative), %F as a plain
    /// number and %L as its full text.
    /// </summary>
    public const string ChronySynchronised = "50505300,PPS,1,1713564723.000000000,-0.000000072,-0.000000011,0.000000195,-1.789,-0.000,0.016,0.000000001,0.000011804,16.0,Normal\n";

    /// <summary>chronyd before its first update (client.c: reference ID 0, stratum 0, leap status LEAP_Unsynchronised).</summary>
    public const string ChronyUnsynchronised = "00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,1.000000000,1.000000000,0.0,Not synchronised\n";

    /// <summary>
    /// <c>timedatectl timesync-status</c> in the layout of systemd's src/timedate/timedatectl.c
    /// (print_ntp_status_info: a vertical table, names right-aligned; Root distance = root delay / 2
    /// + root dispersion; Offset signed; timespans as format_timespan prints them).
    /// </summary>
    public const string TimesyncSynchronised = """
               Server: 192.0.2.123 (ntp.example.jp)
        Poll interval: 34min 8s (min: 32s; max 34min 8s)
                 Leap: normal
              Version: 4
              Stratum: 2
            Reference: C0000201
            Precision: 1us (-24)
        Root distance: 24.174ms (max: 5s)
               Offset: -1.204ms
                Delay: 11.383ms
               Jitter: 2.004ms
         Packet count: 42
            Frequency: +12.345ppm

        """;

    /// <summary>Before timesyncd's first answer: print_ntp_status_info stops after <c>Packet count: 0</c>.</summary>
    public const string TimesyncNoAnswerYet = """
               Server: 192.0.2.123 (ntp.example.jp)
        Poll interval: 32s (min: 32s; max 34min 8s)
         Packet count: 0

        """;

    private static readonly DateTimeOffset At = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void ChronySynchronisedGivesTheErrorBoundOfChronycTracking()
    {
        var reading = ChronyTracking.Parse(ChronySynchronised, At);

        Assert.True(reading.IsReadable);
        Assert.Equal("chrony", reading.Source);
        Assert.Equal("PPS", reading.Server);
        Assert.True(reading.Synchronised);
        // |system time| + root dispersion + root delay / 2 = 0.072 + 11.804 + 0.0005 µs
        Assert.InRange(reading.Offset!.Value.TotalMicroseconds, 11.8, 11.9); // TimeSpan keeps 100 ns ticks
        Assert.Equal(At, reading.ReadAt);
    }

    [Fact]
    public void ChronyNotSynchronisedIsUnsynchronised()
    {
        var reading = ChronyTracking.Parse(ChronyUnsynchronised, At);

        Assert.True(reading.IsReadable);
        Assert.False(reading.Synchronised);
        Assert.Null(reading.Server);
    }

    [Theory]
    [InlineData("506 Cannot talk to daemon\n")]
    [InlineData("")]
    [InlineData("50505300,PPS,1,1713564723.0,fast,-0.0,0.0,-1.789,-0.000,0.016,0.0,0.0,16.0,Normal")]
    public void ChronyOutputThatIsNotTrackingIsUnreadable(string output)
    {
        var reading = ChronyTracking.Parse(output, At);

        Assert.False(reading.IsReadable);
        Assert.Null(reading.Synchronised);
        Assert.Contains("14 tracking fields", reading.Unreadable, StringComparison.Ordinal);
    }

    [Fact]
    public void ChronyFarOffGivesAnOffsetOverTheLimit()
    {
        var reading = ChronyTracking.Parse(ChronySynchronised.Replace("-0.000000072", "2.500000000", StringComparison.Ordinal), At);

        var verdict = ClockVerdict.Of(reading, "demo", TimeSpan.FromSeconds(1));

        Assert.Equal(ClockState.OffsetOutOfBounds, verdict.State);
        Assert.False(verdict.MaySign);
        Assert.Equal(2500.012, verdict.OffsetMilliseconds!.Value, 3);
    }

    [Fact]
    public void TimesyncdSynchronisedGivesOffsetPlusRootDistance()
    {
        var reading = TimesyncStatus.Parse(TimesyncSynchronised, "NTPSynchronized=yes\n", At);

        Assert.True(reading.IsReadable);
        Assert.Equal("timesyncd", reading.Source);
        Assert.Equal("192.0.2.123 (ntp.example.jp)", reading.Server);
        Assert.True(reading.Synchronised);
        Assert.Equal(25.378, reading.Offset!.Value.TotalMilliseconds, 6);
    }

    [Fact]
    public void TimesyncdWithoutAnAnswerOrWithoutTheKernelFlagIsUnsynchronised()
    {
        Assert.False(TimesyncStatus.Parse(TimesyncNoAnswerYet, "NTPSynchronized=no\n", At).Synchronised);
        Assert.False(TimesyncStatus.Parse(TimesyncSynchronised, "NTPSynchronized=no\n", At).Synchronised);
        Assert.False(TimesyncStatus.Parse(TimesyncSynchronised.Replace("Leap: normal", "Leap: not synchronized", StringComparison.Ordinal), "NTPSynchronized=yes\n", At).Synchronised);
    }

    [Fact]
    public void TimedatectlWithoutTimesyncdIsUnreadable()
    {
        var reading = TimesyncStatus.Parse("", "", At);

        Assert.False(reading.IsReadable);
        Assert.Contains("no timesyncd status", reading.Unreadable, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("+1.204ms", 1204)]
    [InlineData("-1.204ms", -1204)]
    [InlineData("250us", 250)]
    [InlineData("-2min 3.5s", -123_500_000)]
    [InlineData("1h 1min", 3_660_000_000)]
    [InlineData("0", 0)]
    public void SystemdTimespansAreRead(string text, long microseconds) =>
        Assert.Equal(TimeSpan.FromMicroseconds(microseconds), TimesyncStatus.ParseSpan(text));

    [Theory]
    [InlineData("")]
    [InlineData("n/a")]
    [InlineData("1.2 ms")]
    public void WhatIsNotATimespanIsNull(string text) => Assert.Null(TimesyncStatus.ParseSpan(text));
}
