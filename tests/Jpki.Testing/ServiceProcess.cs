using System.Diagnostics;

namespace Jpki.Testing;

/// <summary>A service of the install as a child process, from its own build output; its address read from its first line.</summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private readonly Process process;

    private ServiceProcess(Process process, Uri address)
    {
        this.process = process;
        Address = address;
    }

    public Uri Address { get; }

    public int Id => process.Id;

    public bool HasExited => process.HasExited;

    public static async Task<ServiceProcess> StartAsync(string dll, IReadOnlyDictionary<string, string> environment, string listeningPrefix)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var start = ExternalProcess.Start("dotnet", [dll, "--urls", "http://127.0.0.1:0"]);
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        start.Environment.Remove("JPKI_HSM_PIN");
        start.Environment.Remove("JPKI_DB");
        var process = Process.Start(start)!;
        _ = process.StandardError.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Patience)
        {
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(Patience);
            if (line is null)
            {
                break;
            }

            if (ListeningLine.Urls(line, listeningPrefix) is { } urls)
            {
                var url = urls.Split(' ')[0].TrimEnd('/') + "/";
                // Keep draining stdout so the service never blocks on a full pipe.
                _ = process.StandardOutput.ReadToEndAsync();
                return new ServiceProcess(process, new Uri(url));
            }
        }

        process.Kill(entireProcessTree: true);
        throw new InvalidOperationException($"{Path.GetFileName(dll)} did not say it was listening");
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }

        process.Dispose();
    }
}
