using System.Collections.Concurrent;
using System.Diagnostics;

namespace Jpki.HsmTool.Tests;

/// <summary>
/// The real CA (`dotnet Jpki.Ca.dll --urls http://127.0.0.1:0`) as a child process on an
/// install: its start-up, its hosted loops (the audit tail timer and the witness pusher), its API.
/// Its output is drained into <see cref="Output"/>; disposing kills it (this process started it).
/// </summary>
internal sealed class CaProcess : IDisposable
{
    private readonly Process process;

    private CaProcess(Process process, Uri address, ConcurrentQueue<string> output)
    {
        this.process = process;
        Address = address;
        Output = output;
    }

    public Uri Address { get; }

    public ConcurrentQueue<string> Output { get; }

    public static CaProcess Start(Install install)
    {
        var start = ExternalProcess.Start("dotnet", [TestInstall.BuiltToolPath("ca", "Jpki.Ca"), "--urls", "http://127.0.0.1:0"]);
        start.WorkingDirectory = install.Home;
        start.Environment["JPKI_HOME"] = install.Home;
        start.Environment["SOFTHSM2_CONF"] = install.Store.ConfPath;
        start.Environment["JPKI_HSM_TOKEN"] = install.TokenLabel;
        start.Environment["JPKI_PKCS11_MODULE"] = install.Store.ModulePath;
        start.Environment.Remove("JPKI_HSM_PIN");
        start.Environment.Remove("JPKI_DB");
        foreach (var (name, value) in install.Environment)
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the CA");
        var output = new ConcurrentQueue<string>();
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                output.Enqueue(line);
                if (ListeningLine.Urls(line, "CA API listening on ") is { } urls)
                {
                    listening.TrySetResult(new Uri(urls.TrimEnd('/') + "/"));
                }
            }
        };
        process.ErrorDataReceived += (_, e) => output.Enqueue(e.Data ?? "");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!listening.Task.Wait(TimeSpan.FromSeconds(60)))
        {
            process.Kill();
            throw new InvalidOperationException("the CA did not start in 60 s:\n" + string.Join('\n', output));
        }

        return new CaProcess(process, listening.Task.Result, output);
    }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            process.Kill();
            process.WaitForExit();
        }

        process.Dispose();
    }
}
