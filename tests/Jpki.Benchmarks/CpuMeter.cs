using System.Diagnostics;

namespace Jpki.Benchmarks;

/// <summary>
/// The process's CPU time over a measured rate: what one operation costs the machine, which a
/// rate alone hides when the two cores are shared by every part of the run.
/// </summary>
public static class CpuMeter
{
    /// <summary>A rate (operations/s) and the CPU time of the whole process per operation (ms).</summary>
    public sealed record Sample(double Rate, double CpuMsPerOp);

    /// <summary>Runs <paramref name="measureRate"/> (which returns operations/s) and divides the process's CPU time over it by the operations it made.</summary>
    public static Sample Measure(Func<double> measureRate)
    {
        using var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var stopwatch = Stopwatch.StartNew();
        var rate = measureRate();
        var elapsed = stopwatch.Elapsed;
        process.Refresh();
        var operations = rate * elapsed.TotalSeconds;
        return new Sample(rate, operations > 0 ? (process.TotalProcessorTime - cpuBefore).TotalMilliseconds / operations : double.NaN);
    }
}
