using System.Diagnostics;

namespace Jpki.HsmTool.Tests;

/// <summary>
/// SoftHSM rewrites token.object on every login, and a process reading it at that instant loses
/// the token for good (it is missing, or C_Login answers CKR_GENERAL_ERROR). So every JPKI
/// process takes the token store's lock first; this holds it from outside with util-linux
/// flock(1), as another process would, and shows the tool waits for it.
/// </summary>
[Collection(SoftHsmStoreTests.Name)]
public sealed class TokenStoreLockTests(SoftHsmStore store)
{
    [Theory]
    [InlineData("status")]
    [InlineData("backup")]
    public async Task The_tool_waits_while_another_process_holds_the_token_store_lock(string verb)
    {
        var install = store.NewInstall();
        Assert.Equal(0, install.Run("hsm", "init").ExitCode);
        var archive = Path.Combine(install.Home, "token.tar");
        string[] command = verb == "backup" ? ["hsm", "backup", "--out", archive] : ["hsm", verb];

        var lockFile = Path.Combine(store.TokenDir, ".jpki-token-store.lock");
        var holder = new ProcessStartInfo("flock") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--exclusive", lockFile, "sh", "-c", "echo held; sleep 3" })
        {
            holder.ArgumentList.Add(a);
        }

        using var holding = Process.Start(holder)!;
        Assert.Equal("held", await holding.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)));
        var heldSince = DateTime.UtcNow;
        var status = Task.Run(() => { var r = install.Run(command); return (Result: r, Finished: Stopwatch.GetTimestamp()); });

        await holding.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var released = Stopwatch.GetTimestamp();
        var (result, finished) = await status.WaitAsync(TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(finished > released, "the tool finished while another process held the token store lock");
        if (verb == "backup")
        {
            // The token's files themselves were copied after the release, not just the audit
            // record written (which waits for the lock anyway when it loads the module): the
            // holder held it for 3 s, and a backup that ignored it would be written within one.
            var written = File.GetLastWriteTimeUtc(archive);
            Assert.True(written > heldSince.AddSeconds(2.5), $"the archive was written {(written - heldSince).TotalSeconds:0.00} s after the lock was taken, before its release");
        }
    }
}
