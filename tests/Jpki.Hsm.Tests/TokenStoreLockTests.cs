using System.Diagnostics;

namespace Jpki.Hsm.Tests;

/// <summary>The token store lock itself: which modules get one, re-entrance, and a holder that never lets go.</summary>
public sealed class TokenStoreLockTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("jpki-store-lock-").FullName;

    [Fact]
    public void Only_a_softhsm_module_with_a_token_store_gets_a_lock()
    {
        var conf = Conf();
        Assert.Null(TokenStoreLock.ForModule("/usr/lib/x86_64-linux-gnu/libYubiHSM.so", new Dictionary<string, string> { ["SOFTHSM2_CONF"] = conf }));
        Assert.Null(TokenStoreLock.ForModule("/usr/lib/softhsm/libsofthsm2.so", new Dictionary<string, string> { ["SOFTHSM2_CONF"] = Path.Combine(_root, "absent.conf") }));
        using var storeLock = TokenStoreLock.ForModule("/usr/lib/softhsm/libsofthsm2.so", new Dictionary<string, string> { ["SOFTHSM2_CONF"] = conf });
        Assert.NotNull(storeLock);
        Assert.Equal(Path.Combine(_root, "tokens", ".jpki-token-store.lock"), storeLock.Path);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(storeLock.Path));
    }

    [Fact]
    public void It_is_reentrant_on_one_thread_and_excludes_other_threads_until_the_outermost_exit()
    {
        using var storeLock = TokenStoreLock.ForModule("/usr/lib/softhsm/libsofthsm2.so", new Dictionary<string, string> { ["SOFTHSM2_CONF"] = Conf() })!;
        using var entered = new ManualResetEventSlim();
        long enteredAt = 0;
        var outer = storeLock.Enter();
        using (storeLock.Enter())
        {
            // Nested entry on the holding thread: no deadlock.
        }

        var other = new Thread(() =>
        {
            using var held = storeLock.Enter();
            enteredAt = Stopwatch.GetTimestamp();
            entered.Set();
        });
        other.Start();
        Assert.False(entered.Wait(TimeSpan.FromMilliseconds(300)), "another thread entered while this one held the lock");
        var released = Stopwatch.GetTimestamp();
        outer.Dispose();
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)), "the other thread never entered after the release");
        Assert.True(enteredAt > released);
        other.Join();
    }

    [Fact]
    public async Task A_process_that_holds_the_lock_too_long_is_a_typed_error_naming_the_lock()
    {
        using var storeLock = TokenStoreLock.ForModule("/usr/lib/softhsm/libsofthsm2.so", new Dictionary<string, string> { ["SOFTHSM2_CONF"] = Conf() }, TimeSpan.FromMilliseconds(500))!;
        var holder = new ProcessStartInfo("flock") { RedirectStandardOutput = true };
        foreach (var a in new[] { "--exclusive", storeLock.Path, "sh", "-c", "echo held; sleep 5" })
        {
            holder.ArgumentList.Add(a);
        }

        using var holding = Process.Start(holder)!;
        try
        {
            Assert.Equal("held", await holding.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)));
            var e = Assert.Throws<HsmTokenStoreBusyException>(() => storeLock.Enter());
            Assert.Equal(storeLock.Path, e.LockPath);

            // A failed entry leaves the lock usable: once the holder is gone it is taken at once.
            holding.Kill(entireProcessTree: true);
            await holding.WaitForExitAsync();
            using (storeLock.Enter())
            {
            }
        }
        finally
        {
            if (!holding.HasExited)
            {
                holding.Kill(entireProcessTree: true);
            }
        }
    }

    private string Conf()
    {
        var tokens = Path.Combine(_root, "tokens");
        Directory.CreateDirectory(tokens);
        var conf = Path.Combine(_root, "softhsm2.conf");
        File.WriteAllText(conf, $"directories.tokendir = {tokens}\nobjectstore.backend = file\n");
        return conf;
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
