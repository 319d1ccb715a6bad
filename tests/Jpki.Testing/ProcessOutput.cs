using System.Diagnostics;
using System.Text;

namespace Jpki.Testing;

/// <summary>
/// What a long-running child process (<c>./jpki up</c>) writes, stdout and stderr interleaved as the
/// lines arrive, readable while it runs: the test waits for a line and shows it all on failure.
/// </summary>
public sealed class ProcessOutput
{
    private readonly StringBuilder text = new();

    private ProcessOutput()
    {
    }

    /// <summary>Starts reading both streams of a process started with them redirected.</summary>
    public static ProcessOutput Of(Process process)
    {
        ArgumentNullException.ThrowIfNull(process);
        var output = new ProcessOutput();
        process.OutputDataReceived += (_, e) => output.Add(e.Data);
        process.ErrorDataReceived += (_, e) => output.Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return output;
    }

    /// <summary>Everything written so far.</summary>
    public string Text
    {
        get
        {
            lock (text)
            {
                return text.ToString();
            }
        }
    }

    public bool Contains(string value) => Text.Contains(value, StringComparison.Ordinal);

    public override string ToString() => Text;

    private void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (text)
        {
            text.AppendLine(line);
        }
    }
}
