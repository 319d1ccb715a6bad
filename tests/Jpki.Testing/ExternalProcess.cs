using System.Diagnostics;

namespace Jpki.Testing;

/// <summary>What a child process left: its exit code and both output streams.</summary>
public sealed record ProcessResult(int ExitCode, string Stdout, string Stderr)
{
    public string Output => Stdout + Stderr;

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>
/// Runs a child process to the end: the independent checkers (openssl, certtool, ocsptool, curl,
/// the JDK) and this repository's own programs. Both streams are read at once, so a chatty
/// process cannot block on a full pipe; a process still running at the deadline is killed.
/// </summary>
public static class ExternalProcess
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Runs <paramref name="file"/> with <paramref name="arguments"/>; exit code and stdout + stderr.</summary>
    public static (int ExitCode, string Output) Run(string file, params string[] arguments)
    {
        var result = Run(Start(file, arguments));
        return (result.ExitCode, result.Output);
    }

    /// <summary>Runs <paramref name="file"/> and returns its output; a non-zero exit is an <see cref="InvalidOperationException"/> with that output.</summary>
    public static string RunOrThrow(string file, params string[] arguments)
    {
        var (exitCode, output) = Run(file, arguments);
        return exitCode == 0 ? output : throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed (exit {exitCode}): {output}");
    }

    /// <summary>As <see cref="Run(string, string[])"/>, without blocking a thread of the test's host.</summary>
    public static Task<(int ExitCode, string Output)> RunAsync(string file, params string[] arguments) =>
        Task.Run(() => Run(file, arguments));

    /// <summary>Runs <paramref name="file"/> in <paramref name="workingDirectory"/>.</summary>
    public static ProcessResult RunIn(string workingDirectory, string file, params string[] arguments)
    {
        var start = Start(file, arguments);
        start.WorkingDirectory = workingDirectory;
        return Run(start);
    }

    /// <summary>
    /// Runs <paramref name="file"/> with extra <paramref name="environment"/> variables (an empty value
    /// removes one the test runner may carry, such as JPKI_DB or JPKI_HSM_PIN) and <paramref name="input"/> on its stdin.
    /// </summary>
    public static ProcessResult RunWith(string file, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, string? input = null)
    {
        var start = Start(file, arguments);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            if (value.Length == 0)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        return Run(start, input);
    }

    /// <summary>A start description with redirected output, for callers that add a directory, environment or input.</summary>
    public static ProcessStartInfo Start(string file, IEnumerable<string> arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return start;
    }

    /// <exception cref="TimeoutException">Still running after <paramref name="timeout"/> (default 2 minutes); it was killed.</exception>
    public static ProcessResult Run(ProcessStartInfo start, string? input = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(start);
        start.RedirectStandardInput = input is not null;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {start.FileName}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (input is not null)
        {
            process.StandardInput.Write(input);
            process.StandardInput.Close();
        }

        var limit = timeout ?? DefaultTimeout;
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{start.FileName} did not finish in {limit.TotalSeconds:0} s");
        }

        return new ProcessResult(process.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
    }
}
