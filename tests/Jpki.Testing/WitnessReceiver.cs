using System.Diagnostics;
using System.Security.Cryptography;

namespace Jpki.Testing;

/// <summary>
/// The audit witness of a test: tests/Jpki.WitnessReceiver run as nobody (uid/gid 65534, no
/// supplementary groups, through setpriv) on 127.0.0.1, keeping each checkpoint it is pushed in a
/// directory it creates and owns. The test process is root and could edit that directory; the CA
/// under test only ever reaches it over HTTP, which never replaces a file. Its build output is
/// copied to a directory of its own under the temporary directory first: the checkout may sit
/// below a directory that nobody cannot enter (CI's clone does), and then nobody could not load it.
/// </summary>
public sealed class WitnessReceiver : IDisposable
{
    public const int Nobody = 65534;

    private const UnixFileMode ReadableDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private readonly Process process;
    private readonly string programDirectory;

    public WitnessReceiver()
    {
        var name = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        Directory = Path.Combine(Path.GetTempPath(), "jpki-witness-" + name);
        programDirectory = Path.Combine(Path.GetTempPath(), "jpki-witness-program-" + name);
        var program = CopyReadableByAll(Path.GetDirectoryName(TestInstall.BuiltToolPath("tests", "Jpki.WitnessReceiver"))!, programDirectory);
        var start = ExternalProcess.Start("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "dotnet", Path.Combine(program, "Jpki.WitnessReceiver.dll"), Directory]);
        start.WorkingDirectory = program;
        start.Environment["HOME"] = "/tmp";
        start.Environment["DOTNET_CLI_HOME"] = "/tmp";
        process = Process.Start(start) ?? throw new InvalidOperationException("could not start the witness receiver");
        var line = process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
        if (line is null || !line.StartsWith("listening on ", StringComparison.Ordinal))
        {
            process.Kill();
            throw new InvalidOperationException($"the witness receiver did not start: {line} {process.StandardError.ReadToEnd()}");
        }

        Url = line["listening on ".Length..].Trim();
    }

    /// <summary>Where the receiver keeps what it was pushed (owned by nobody).</summary>
    public string Directory { get; }

    public string Url { get; }

    /// <summary>The seqs of the checkpoints held, in order.</summary>
    public IReadOnlyList<long> HeldSeqs() =>
        System.IO.Directory.Exists(Directory)
            ? System.IO.Directory.EnumerateFiles(Directory, "checkpoint-*.json").Select(f => long.Parse(Path.GetFileNameWithoutExtension(f)["checkpoint-".Length..], System.Globalization.CultureInfo.InvariantCulture)).Order().ToList()
            : [];

    public string PathOf(long seq) => Path.Combine(Directory, $"checkpoint-{seq:D12}.json");

    /// <summary>Waits (at most <paramref name="timeout"/>) until a checkpoint at or past <paramref name="seq"/> is held.</summary>
    public bool WaitFor(long seq, TimeSpan timeout)
    {
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < timeout)
        {
            if (HeldSeqs().Any(s => s >= seq))
            {
                return true;
            }

            Thread.Sleep(100);
        }

        return false;
    }

    /// <summary>Copies the build output (files and folders) to <paramref name="destination"/>, every directory 0755 and file 0644.</summary>
    private static string CopyReadableByAll(string source, string destination)
    {
        // Modes set after creation: the test process runs the services' code, which sets umask 077.
        foreach (var folder in System.IO.Directory.EnumerateDirectories(source, "*", SearchOption.AllDirectories).Prepend(source))
        {
            var copy = Path.Combine(destination, Path.GetRelativePath(source, folder));
            System.IO.Directory.CreateDirectory(copy);
            File.SetUnixFileMode(copy, ReadableDirectory);
        }

        foreach (var file in System.IO.Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var copy = Path.Combine(destination, Path.GetRelativePath(source, file));
            File.Copy(file, copy);
            File.SetUnixFileMode(copy, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }

        return destination;
    }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            process.Kill();
            process.WaitForExit();
        }

        process.Dispose();
        foreach (var owned in new[] { Directory, programDirectory })
        {
            try
            {
                System.IO.Directory.Delete(owned, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
