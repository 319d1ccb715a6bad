using System.ComponentModel;
using System.Diagnostics;
using Jpki.Core.Configuration;

namespace Jpki.Core.Clock;

/// <summary>
/// Asks the machine's synchronisation daemon: chrony first (<c>chronyc -c tracking</c>), then
/// systemd-timesyncd (<c>timedatectl timesync-status</c> and <c>timedatectl show -p
/// NTPSynchronized</c>). A daemon that is not installed, not running, or answers something else
/// is skipped; when neither answers, the reading is unreadable with both reasons. Each command
/// runs with <c>LC_ALL=C</c> (a decimal point, English labels) and at most
/// <see cref="CommandTimeout"/>.
/// </summary>
public sealed class SystemClockSyncSource(ClockSettings settings, TimeProvider time) : IClockSyncSource
{
    public static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(3);

    public ClockSyncReading Read()
    {
        var chrony = Run(settings.Chronyc, ["-c", "tracking"]);
        if (chrony.Output is { } tracking)
        {
            var reading = ChronyTracking.Parse(tracking, time.GetUtcNow());
            if (reading.IsReadable)
            {
                return reading;
            }

            chrony = (null, reading.Unreadable);
        }

        var status = Run(settings.Timedatectl, ["timesync-status"]);
        var kernel = status.Output is null ? (null, null) : Run(settings.Timedatectl, ["show", "-p", "NTPSynchronized"]);
        string? timesyncd;
        if (status.Output is { } s && kernel.Output is { } k)
        {
            var reading = TimesyncStatus.Parse(s, k, time.GetUtcNow());
            if (reading.IsReadable)
            {
                return reading;
            }

            timesyncd = reading.Unreadable;
        }
        else
        {
            timesyncd = status.Error ?? kernel.Error;
        }

        return ClockSyncReading.NotReadable(ClockSyncReading.None, $"chrony: {chrony.Error}; timesyncd: {timesyncd}", time.GetUtcNow());
    }

    /// <summary>The command's standard output, or why there is none (not found, failed, timed out).</summary>
    private static (string? Output, string? Error) Run(string command, string[] arguments)
    {
        var start = new ProcessStartInfo(command)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["LC_ALL"] = "C";
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new Win32Exception("not started");
        }
        catch (Win32Exception e)
        {
            return (null, $"{command} cannot be run ({e.Message})");
        }

        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(CommandTimeout))
            {
                process.Kill(entireProcessTree: true);
                return (null, $"{command} {string.Join(' ', arguments)} did not answer within {CommandTimeout.TotalSeconds:0} s");
            }

            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                var first = error.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
                return (null, $"{command} {string.Join(' ', arguments)} exited with {process.ExitCode}: {first ?? "no message"}");
            }

            return (output.Result, null);
        }
    }
}
