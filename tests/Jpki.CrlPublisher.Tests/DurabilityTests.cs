using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// A published CRL survives a power cut: the file is fsynced before its rename, and the directory
/// after it (the rename itself is a directory entry). Observed with strace on a real
/// <c>Jpki.CrlPublisher publish</c> process (what <c>./jpki crl publish</c> runs) on the fixture's install.
/// </summary>
[Collection(CrlTestGroup.Name)]
public sealed partial class DurabilityTests(CrlFixture crl)
{
    [Fact]
    public async Task Every_published_file_is_renamed_into_place_and_its_directory_fsynced_after_the_rename()
    {
        var trace = Path.Combine(crl.Ca.Root, "publish.strace");
        var psi = new ProcessStartInfo("strace") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "-f", "-qq", "-e", "trace=openat,rename,renameat,renameat2,link,linkat,fsync,close", "-o", trace, "dotnet", TestInstall.BuiltToolPath("crl-publisher", "Jpki.CrlPublisher"), "publish" })
        {
            psi.ArgumentList.Add(argument);
        }

        psi.Environment["JPKI_HOME"] = crl.Ca.Home;
        psi.Environment["SOFTHSM2_CONF"] = crl.Ca.ConfPath;
        psi.Environment["JPKI_HSM_TOKEN"] = crl.Ca.TokenLabel;
        psi.Environment["JPKI_PKCS11_MODULE"] = crl.Ca.ModulePath;
        psi.Environment.Remove("JPKI_DB");
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3)))
        {
            await process.WaitForExitAsync(timeout.Token);
        }

        var output = await stdout;
        Assert.True(process.ExitCode == 0, output + await stderr);
        var published = output.Split('\n').Count(l => l.Contains(".crl number ", StringComparison.Ordinal));
        Assert.True(published >= 4, output); // at least full and ARL of both issuer keys

        // Follow the trace per thread (series are published in parallel): after each rename onto a
        // published .crl, and each rename (or link, for a rename that must not replace) into the
        // archive, that thread opens the file's directory (O_DIRECTORY) and fsyncs that descriptor
        // before its next rename.
        var archive = crl.Settings.Resolve(crl.Settings.Crl.ArchiveDirectory) + "/";
        var renamed = 0;
        var archived = 0;
        var archiveCopies = new List<string>();
        var pending = new Dictionary<string, (string Directory, string? Fd)>(StringComparer.Ordinal);
        foreach (var line in Reassembled(File.ReadAllLines(trace)))
        {
            var thread = line.Split(' ', 2)[0];
            if (RenamePattern().Match(line) is { Success: true } rename && rename.Groups["to"].Value.EndsWith(".crl", StringComparison.Ordinal))
            {
                Assert.False(pending.ContainsKey(thread), $"renamed again before the directory of the previous rename was fsynced: {line}");
                pending[thread] = (Path.GetDirectoryName(rename.Groups["to"].Value)!, null);
                if (rename.Groups["to"].Value.StartsWith(archive, StringComparison.Ordinal))
                {
                    // A build that lost the race to the fixture's running publisher (which publishes a
                    // new issuer key's first CRLs by itself) archives, finds itself superseded and
                    // deletes its archive copy; it published nothing, so only kept copies count.
                    archived += File.Exists(rename.Groups["to"].Value) ? 1 : 0;
                    archiveCopies.Add(rename.Groups["to"].Value);
                }
                else
                {
                    renamed++;
                }
            }
            else if (pending.TryGetValue(thread, out var waiting))
            {
                if (OpenDirectoryPattern().Match(line) is { Success: true } open && open.Groups["path"].Value == waiting.Directory)
                {
                    pending[thread] = waiting with { Fd = open.Groups["fd"].Value };
                }
                else if (waiting.Fd is { } fd && FsyncPattern().Match(line) is { Success: true } fsync && fsync.Groups["fd"].Value == fd)
                {
                    pending.Remove(thread);
                }
            }
        }

        // On a mismatch the message carries the trace's lines about CRL files, so a failure on another
        // machine says which call was missed.
        var crlCalls = string.Join('\n', File.ReadLines(trace).Where(l => l.Contains(".crl", StringComparison.Ordinal) && !l.Contains("openat(", StringComparison.Ordinal)));
        Assert.True(published == renamed, $"{renamed} renames for:\n{output}\ntrace:\n{crlCalls}");
        // The facts first: the CI summary keeps only the start of a message.
        Assert.True(published == archived, $"{archived} archive copies kept of {published} published; renamed into the archive and gone now: [{string.Join(", ", archiveCopies.Where(c => !File.Exists(c)).Select(c => c[archive.Length..]))}]; published: [{string.Join(", ", output.Split('\n').Where(l => l.Contains(".crl number ", StringComparison.Ordinal)).Select(l => l.Trim()))}]\ntrace:\n{crlCalls}\noutput:\n{output}");
        Assert.Empty(pending);

        // And on disk: every published CRL has its archive copy, holding exactly what was published.
        foreach (var line in output.Split('\n').Where(l => l.Contains(".crl number ", StringComparison.Ordinal)))
        {
            var fields = line.Trim().Split(' ');
            var (issuer, file) = (fields[0][..fields[0].IndexOf('/', StringComparison.Ordinal)], fields[0][(fields[0].IndexOf('/', StringComparison.Ordinal) + 1)..]);
            var store = file switch
            {
                "full.crl" or "delta.crl" => "full",
                "arl.crl" => "arl",
                _ => file[..^(file.EndsWith("-delta.crl", StringComparison.Ordinal) ? "-delta.crl".Length : ".crl".Length)],
            };
            var copy = Path.Combine(archive, issuer, store, fields[2] + ".crl");
            Assert.True(File.Exists(copy), $"no archive copy {copy} of {line}");
            Assert.Equal(fields[Array.IndexOf(fields, "sha256") + 1], Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(copy))));
        }
    }

    [Fact]
    public void A_call_split_by_another_thread_is_matched_like_a_whole_one()
    {
        // strace pads the return value of a resumed call to its column: ")             = 0".
        string[] trace =
        [
            "100 rename(\"/a/.x.crl.tmp\", \"/a/x.crl\" <unfinished ...>",
            "101 close(7 <unfinished ...>",
            "100 <... rename resumed>)             = 0",
            "101 <... close resumed>)              = 0",
            "100 openat(AT_FDCWD, \"/a\", O_RDONLY|O_CLOEXEC|O_DIRECTORY <unfinished ...>",
            "100 <... openat resumed>)             = 12",
            "100 fsync(12 <unfinished ...>",
            "100 <... fsync resumed>)              = 0",
        ];
        var calls = Reassembled(trace).ToList();
        Assert.Equal(4, calls.Count);
        Assert.Equal("/a/x.crl", RenamePattern().Match(calls[0]).Groups["to"].Value);
        Assert.Equal("12", OpenDirectoryPattern().Match(calls[2]).Groups["fd"].Value);
        Assert.Equal("12", FsyncPattern().Match(calls[3]).Groups["fd"].Value);
        Assert.DoesNotMatch(RenamePattern(), "100 rename(\"/a/.x.crl.tmp\", \"/a/x.crl\") = -1 EEXIST (File exists)");
    }

    /// <summary>
    /// strace splits a call that another thread interrupts into <c>PID call(args &lt;unfinished ...&gt;</c>
    /// and, later, <c>PID &lt;... call resumed&gt;rest</c>; this joins the two halves at the resumption
    /// (the moment the call returned), so calls of busy threads are matched like the others.
    /// </summary>
    private static IEnumerable<string> Reassembled(IEnumerable<string> lines)
    {
        var unfinished = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in lines)
        {
            var thread = line.Split(' ', 2)[0];
            const string Cut = " <unfinished ...>";
            if (line.EndsWith(Cut, StringComparison.Ordinal))
            {
                unfinished[thread] = line[..^Cut.Length];
                continue;
            }

            if (ResumedPattern().Match(line) is { Success: true } resumed && unfinished.Remove(thread, out var head))
            {
                yield return head + resumed.Groups["rest"].Value;
                continue;
            }

            yield return line;
        }
    }

    [GeneratedRegex("^\\S+\\s+<\\.\\.\\. [a-z0-9_]+ resumed>(?<rest>.*)$")]
    private static partial Regex ResumedPattern();

    [GeneratedRegex("(?:rename(?:at2?)?|link(?:at)?)\\((?:AT_FDCWD, )?\"[^\"]+\", (?:AT_FDCWD, )?\"(?<to>[^\"]+)\".*\\)\\s+= 0")]
    private static partial Regex RenamePattern();

    [GeneratedRegex("fsync\\((?<fd>[0-9]+)\\)\\s+= 0")]
    private static partial Regex FsyncPattern();

    [GeneratedRegex("openat\\(AT_FDCWD, \"(?<path>[^\"]+)\", [^)]*O_DIRECTORY[^)]*\\)\\s+= (?<fd>[0-9]+)")]
    private static partial Regex OpenDirectoryPattern();
}
