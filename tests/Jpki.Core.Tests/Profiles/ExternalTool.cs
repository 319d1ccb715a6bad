using System.Diagnostics;

namespace Jpki.Core.Tests.Profiles;

/// <summary>Runs openssl / certtool, the independent checkers, and captures what they say.</summary>
internal static class ExternalTool
{
    public sealed record Result(int ExitCode, string Output)
    {
        public override string ToString() => $"exit {ExitCode}: {Output}";
    }

    public static Result Run(string workingDirectory, string fileName, params string[] arguments)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {fileName}");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill();
            throw new TimeoutException($"{fileName} did not finish in 60 s");
        }

        return new Result(process.ExitCode, stdout + stderr.GetAwaiter().GetResult());
    }
}

/// <summary>A scratch directory for PEM files handed to the checkers, removed afterwards.</summary>
internal sealed class ScratchDirectory : IDisposable
{
    public ScratchDirectory() => Path = Directory.CreateTempSubdirectory("jpki-profiles-").FullName;

    public string Path { get; }

    public string WritePem(string fileName, byte[] certificateDer)
    {
        var path = System.IO.Path.Combine(Path, fileName);
        File.WriteAllText(path, new string(System.Security.Cryptography.PemEncoding.Write("CERTIFICATE", certificateDer)) + "\n");
        return path;
    }

    public string WriteBytes(string fileName, byte[] content)
    {
        var path = System.IO.Path.Combine(Path, fileName);
        File.WriteAllBytes(path, content);
        return path;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
