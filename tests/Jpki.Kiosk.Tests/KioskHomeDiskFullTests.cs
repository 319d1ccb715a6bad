using System.Diagnostics;
using Jpki.Card;

namespace Jpki.Kiosk.Tests;

/// <summary>
/// Issue 20, decision 0822: the kiosk program (<c>dotnet Jpki.Kiosk.dll</c>, as <c>./jpki up</c>
/// starts it) whose home — its card store, its data-protection key ring ({home}/kiosk-keys) and its
/// log file (standard output and error appended to {home}/logs/kiosk.log, as <c>up</c>'s redirect
/// does) — is a tmpfs of its own, filled to the last block (<see cref="FullDisk"/>). No CA is
/// needed: the pages used here (the login form, a refused page) answer without one, and a login
/// answers "CA unreachable" from a closed loopback port.
/// </summary>
public sealed class KioskHomeDiskFullTests : IDisposable
{
    private readonly string disk = Directory.CreateTempSubdirectory("jpki-kiosk-home-").FullName;
    private readonly string kioskDll = TestInstall.BuiltToolPath("enrolment-kiosk", "Jpki.Kiosk");
    private readonly Uri caAddress = new($"http://127.0.0.1:{LoopbackPorts.Free()}/");
    private readonly List<Process> processes = [];

    private string Home => Path.Combine(disk, "home");

    private string KeyRing => Path.Combine(Home, "kiosk-keys");

    private string Log => Path.Combine(Home, "logs", "kiosk.log");

    private string Filler => Path.Combine(Home, "filler");

    public void Dispose()
    {
        foreach (var process in processes.Where(p => !p.HasExited))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(30_000);
        }

        processes.ForEach(p => p.Dispose());
        FullDisk.Unmount(Home);
        Directory.Delete(disk, recursive: true);
    }

    /// <summary>
    /// First start on a full disk: the key ring's first key cannot be stored, so the kiosk exits 1
    /// before it listens, with one line on standard error naming the key ring and the cause — never
    /// an ephemeral key. Space back: it starts and stores one key. Then its log file's disk is full:
    /// the login form, a refused page and a login still answer as they should and the process stays
    /// up; once space is back it logs again. Restarted, it accepts the form token and cookie the
    /// first process served (the key ring was kept, not made anew).
    /// </summary>
    [Fact]
    public async Task The_kiosk_refuses_to_start_without_its_key_ring_and_serves_on_when_its_log_disk_is_full()
    {
        FullDisk.Mount(Home, 16);
        CardStore.ForHome(Home).EnsureSoftHsmConfiguration();
        Directory.CreateDirectory(Path.GetDirectoryName(Log)!);
        var filled = FullDisk.Fill(Filler);
        ProcessResult refused;
        try
        {
            var start = ExternalProcess.Start("dotnet", [kioskDll, "--urls", $"http://127.0.0.1:{LoopbackPorts.Free()}", "--ca", caAddress.ToString()]);
            start.Environment["JPKI_HOME"] = Home;
            refused = ExternalProcess.Run(start, timeout: TimeSpan.FromSeconds(90));
        }
        finally
        {
            File.Delete(Filler);
        }

        Assert.True(refused.ExitCode == 1, $"exit {refused.ExitCode} ({filled / 1024} KiB filler): {refused.Stderr}{refused.Stdout}");
        Assert.Contains($"kiosk: cannot use its data-protection key ring in {KeyRing}", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("No space left on device", refused.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("listening", refused.Stdout, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(Directory.EnumerateFiles(KeyRing));

        var port = LoopbackPorts.Free();
        var address = new Uri($"http://127.0.0.1:{port}/");
        var first = await StartLoggingToFileAsync(port);
        var key = Assert.Single(Directory.EnumerateFiles(KeyRing, "key-*.xml"));
        using var browser = new KioskBrowser(address);
        await browser.GetAsync("/enrol");
        Assert.True(browser.Status == 200, browser.Html);

        await Eventually.HoldsAsync(() => RefusedPagesLogged() > 0, TimeSpan.FromSeconds(30));
        var loggedBefore = RefusedPagesLogged();
        filled = FullDisk.Fill(Filler);
        int refusedPages;
        try
        {
            refusedPages = await AnswersOnAFullLogDiskAsync(browser);
            Assert.False(first.HasExited, "the kiosk stopped while its log disk was full");
        }
        finally
        {
            File.Delete(Filler);
        }

        // Space back, same process: it logs again (each refused page is one line).
        var loggedWhileFull = RefusedPagesLogged() - loggedBefore;
        await Eventually.HoldsAsync(async () =>
        {
            await browser.GetAsync("/enrol");
            return RefusedPagesLogged() > loggedBefore + loggedWhileFull;
        }, TimeSpan.FromSeconds(30));
        Assert.False(first.HasExited);

        // Restarted: the form served by the first process is still good (the same key, not an ephemeral one).
        await browser.GetAsync("/login");
        first.Kill(entireProcessTree: true);
        await first.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await StartLoggingToFileAsync(port);
        Assert.Equal([key], Directory.EnumerateFiles(KeyRing, "key-*.xml"));
        await browser.PostAsync("/login", new Dictionary<string, string> { ["account"] = "operator", ["password"] = "not-the-password" });
        Assert.True(browser.Status == 503, $"{browser.Status}: {browser.Html}");
        Assert.Contains(KioskText.Japanese.CaUnreachable, browser.Html, StringComparison.Ordinal);
        AccessMatrix.Report($"fault disk-full kiosk-home: first start on a full disk ({filled / 1024} KiB filler) exited 1 naming the key ring; after space, one key stored; {refusedPages} refused pages answered on a full log disk ({loggedWhileFull} of their lines written), process up, logging again after; restarted, the earlier form token was accepted");
    }

    /// <summary>Lines of the log file that record a refused <c>GET /enrol</c> (no session: sent to the login).</summary>
    private int RefusedPagesLogged() =>
        File.ReadAllLines(Log).Count(l => l.Contains("refused kiosk GET /enrol", StringComparison.Ordinal));

    /// <summary>The login form, a refused page (logged) and a login through an unreachable CA, each answered as usual; the refused pages counted.</summary>
    private static async Task<int> AnswersOnAFullLogDiskAsync(KioskBrowser browser)
    {
        var refusedPages = 0;
        for (var i = 0; i < 5; i++)
        {
            await browser.GetAsync("/enrol");
            Assert.True(browser.Status == 200 && browser.Html.Contains("name=\"password\"", StringComparison.Ordinal), browser.Html);
            refusedPages++;
        }

        await browser.GetAsync("/login");
        Assert.True(browser.Status == 200, browser.Html);
        await browser.PostAsync("/login", new Dictionary<string, string> { ["account"] = "operator", ["password"] = "not-the-password" });
        Assert.True(browser.Status == 503, $"{browser.Status}: {browser.Html}");
        Assert.Contains(KioskText.Japanese.CaUnreachable, browser.Html, StringComparison.Ordinal);
        return refusedPages;
    }

    /// <summary>Starts the kiosk as <c>./jpki up</c> does, its output appended to its log file; waits for /healthz.</summary>
    private async Task<Process> StartLoggingToFileAsync(int port)
    {
        var start = new ProcessStartInfo("sh") { UseShellExecute = false };
        foreach (var argument in new[] { "-c", "exec dotnet \"$0\" --urls \"$1\" --ca \"$2\" >>\"$3\" 2>&1", kioskDll, $"http://127.0.0.1:{port}", caAddress.ToString(), Log })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["JPKI_HOME"] = Home;
        var process = Process.Start(start)!;
        processes.Add(process);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        await Eventually.HoldsAsync(
            async () =>
            {
                if (process.HasExited)
                {
                    Assert.Fail("the kiosk exited: " + File.ReadAllText(Log));
                }

                try
                {
                    using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz"));
                    return response.IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            },
            TimeSpan.FromSeconds(90));
        return process;
    }
}
