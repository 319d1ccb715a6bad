using System.Diagnostics;
using System.Globalization;

namespace Jpki.Cli;

/// <summary>
/// A step counter with elapsed time for the slow verbs (the key ceremony, backups, CRL builds,
/// benchmarks): one line per step, <c>[3/9 4.2 s] what is being done</c>, and a closing
/// <c>[done 12.5 s] ...</c>. Written to standard error by default, so that standard output keeps
/// only the verb's results (which scripts and tests read).
/// </summary>
public sealed class StepProgress
{
    private readonly TextWriter _output;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _step;

    /// <param name="output">Where the lines go (default: standard error).</param>
    /// <param name="total">How many steps there will be, or null when not known in advance.</param>
    public StepProgress(int? total = null, TextWriter? output = null)
    {
        Total = total;
        _output = output ?? Console.Error;
    }

    /// <summary>A progress that writes nothing (library callers that want no lines).</summary>
    public static StepProgress Silent => new(null, TextWriter.Null);

    public int? Total { get; set; }

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Starts the next step.</summary>
    public void Step(string what)
    {
        _step++;
        var count = Total is { } total ? $"{_step}/{Math.Max(total, _step)}" : _step.ToString(CultureInfo.InvariantCulture);
        Write($"[{count} {Seconds(Elapsed)}] {what}");
    }

    /// <summary>The last line: everything is done.</summary>
    public void Done(string what) => Write($"[done {Seconds(Elapsed)}] {what}");

    public static string Seconds(TimeSpan elapsed) => elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";

    private void Write(string line)
    {
        _output.WriteLine(line);
        _output.Flush();
    }
}
