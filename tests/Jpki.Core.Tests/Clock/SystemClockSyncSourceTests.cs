using Jpki.Core.Clock;
using Jpki.Core.Configuration;

namespace Jpki.Core.Tests.Clock;

/// <summary>
/// The real source, running real processes: small scripts in the place of <c>chronyc</c> and
/// <c>timedatectl</c> that print the documented output (the machine's own daemons are not touched
/// and may be absent), to show the order chrony → timesyncd → none, the arguments, LC_ALL=C and the
/// timeout.
/// </summary>
public sealed class SystemClockSyncSourceTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("jpki-clock-").FullName;

    public void Dispose()
    {
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public void ChronyIsAskedFirstWithCsvTrackingInTheCLocale()
    {
        // Prints the comma-decimal garbage a de_DE chronyc would if LC_ALL were not C.
        var chronyc = Script("chronyc", $$"""
            [ "$*" = "-c tracking" ] || { echo "unexpected arguments: $*" >&2; exit 2; }
            [ "$LC_ALL" = C ] || { echo "50505300,PPS,1,1713564723,000000000"; exit 0; }
            printf '%s' '{{ClockStatusParsingTests.ChronySynchronised.TrimEnd()}}'
            """);
        var source = Source(chronyc, Script("timedatectl", "echo must not be asked >&2; exit 1"));

        var reading = source.Read();

        Assert.True(reading.IsReadable, reading.Unreadable);
        Assert.Equal("chrony", reading.Source);
        Assert.True(reading.Synchronised);
        Assert.InRange(reading.Offset!.Value.TotalMicroseconds, 11.8, 11.9); // TimeSpan keeps 100 ns ticks
    }

    [Fact]
    public void WithoutChronyTimesyncdIsAsked()
    {
        var timedatectl = Script("timedatectl", $$"""
            case "$*" in
              "timesync-status") printf '%s\n' '{{ClockStatusParsingTests.TimesyncSynchronised.Replace("'", "", StringComparison.Ordinal)}}' ;;
              "show -p NTPSynchronized") echo NTPSynchronized=yes ;;
              *) echo "unexpected arguments: $*" >&2; exit 2 ;;
            esac
            """);
        var source = Source(Path.Combine(directory, "no-such-chronyc"), timedatectl);

        var reading = source.Read();

        Assert.True(reading.IsReadable, reading.Unreadable);
        Assert.Equal("timesyncd", reading.Source);
        Assert.True(reading.Synchronised);
        Assert.Equal(25.378, reading.Offset!.Value.TotalMilliseconds, 6);
    }

    [Fact]
    public void NeitherDaemonAnsweringIsUnreadableWithBothReasons()
    {
        var source = Source(
            Script("chronyc", "echo '506 Cannot talk to daemon' >&2; exit 1"),
            Script("timedatectl", "echo 'System has not been booted with systemd as init system (PID 1). Can'\\''t operate.' >&2; exit 1"));

        var reading = source.Read();

        Assert.False(reading.IsReadable);
        Assert.Equal(ClockSyncReading.None, reading.Source);
        Assert.Null(reading.Synchronised);
        Assert.Contains("exited with 1: 506 Cannot talk to daemon", reading.Unreadable, StringComparison.Ordinal);
        Assert.Contains("exited with 1: System has not been booted with systemd", reading.Unreadable, StringComparison.Ordinal);
    }

    [Fact]
    public void AHangingChronycIsGivenUpAfterTheTimeout()
    {
        var source = Source(Script("chronyc", "sleep 30"), Path.Combine(directory, "no-such-timedatectl"));

        var reading = source.Read();

        Assert.False(reading.IsReadable);
        Assert.Contains("did not answer within 3 s", reading.Unreadable, StringComparison.Ordinal);
        Assert.Contains("no-such-timedatectl cannot be run", reading.Unreadable, StringComparison.Ordinal);
    }

    private static SystemClockSyncSource Source(string chronyc, string timedatectl) =>
        new(new ClockSettings { Chronyc = chronyc, Timedatectl = timedatectl }, TimeProvider.System);

    private string Script(string name, string body)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }
}
