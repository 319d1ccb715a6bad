using System.Diagnostics;
using System.Text;

namespace Jpki.HsmTool;

/// <summary>
/// The Debian tools disaster recovery builds on, run as child processes: <c>age</c> (the
/// archive's encryption) and <c>ssss</c> (Shamir's secret sharing of the escrowed secrets).
/// Secrets reach them on standard input or in an owner-only file, never on a command line.
/// </summary>
internal static class OutsideTool
{
    /// <summary>Runs <paramref name="program"/> with <paramref name="input"/> on its standard input; throws on a non-zero exit.</summary>
    public static (byte[] Stdout, string Stderr) Run(string program, IReadOnlyList<string> arguments, byte[]? input = null)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{program} is not installed (Debian package {(program.StartsWith("ssss", StringComparison.Ordinal) ? "ssss" : program.StartsWith("age", StringComparison.Ordinal) ? "age" : program)}): {e.Message}", e);
        }

        using (process)
        {
            using var stdout = new MemoryStream();
            var copy = process.StandardOutput.BaseStream.CopyToAsync(stdout);
            var stderr = process.StandardError.ReadToEndAsync();
            if (input is not null)
            {
                process.StandardInput.BaseStream.Write(input);
            }

            process.StandardInput.Close();
            if (!process.WaitForExit(TimeSpan.FromMinutes(30)))
            {
                process.Kill(entireProcessTree: true);
                throw new InvalidOperationException($"{program} did not finish in 30 minutes");
            }

            copy.Wait();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed (exit {process.ExitCode}): {stderr.Result.Trim()}");
            }

            return (stdout.ToArray(), stderr.Result);
        }
    }

    public static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
