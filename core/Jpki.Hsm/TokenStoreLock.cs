using System.Runtime.InteropServices;

namespace Jpki.Hsm;

/// <summary>
/// An advisory lock on a SoftHSM token store, shared by every JPKI process that loads it.
/// SoftHSM's file object store rewrites a token's token.object in place on every C_Login
/// (opening it with O_TRUNC before it takes its own file lock), so another process that reads
/// the file at that instant sees it empty or half written and marks the token invalid for the
/// rest of its life: C_Initialize then lists no such token, C_Login answers CKR_GENERAL_ERROR,
/// C_GetTokenInfo fails (SoftHSM issue #757; measured here with three `pkcs11-tool --login`
/// loops: most of a fourth process's loads saw no token). So everything in this library that
/// reads or writes token files — loading the module, finding slots, logging in, finding,
/// creating and destroying objects — runs inside this lock; signing with an open session
/// touches no token file and does not take it. A real HSM needs none of this: the lock exists
/// only for modules that are SoftHSM with a file store.
/// </summary>
internal sealed partial class TokenStoreLock : IDisposable
{
    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;
    private const int Unlock = 8;
    private const int EWouldBlock = 11;

    // The flock is per open file description and not re-entrant between our own calls, so
    // threads of this process queue on a re-entrant in-process lock first and only the
    // outermost holder takes and drops the file lock.
    private readonly Lock _threads = new();
    private readonly int _fd;
    private readonly TimeSpan _patience;
    private int _depth;

    private TokenStoreLock(string path, int fd, TimeSpan patience)
    {
        Path = path;
        _fd = fd;
        _patience = patience;
    }

    public string Path { get; }

    /// <summary>
    /// The lock for the token store a SoftHSM module will use, or null for any other module.
    /// The store is the configuration's directories.tokendir, the configuration the one named
    /// by SOFTHSM2_CONF (what the module itself reads) or SoftHSM's default.
    /// </summary>
    public static TokenStoreLock? ForModule(string modulePath, IReadOnlyDictionary<string, string>? moduleEnvironment, TimeSpan? patience = null)
    {
        if (!System.IO.Path.GetFileName(modulePath).Contains("softhsm", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var conf = moduleEnvironment is not null && moduleEnvironment.TryGetValue("SOFTHSM2_CONF", out var c) ? c
            : Environment.GetEnvironmentVariable("SOFTHSM2_CONF") is { Length: > 0 } e ? e
            : "/etc/softhsm/softhsm2.conf";
        if (!File.Exists(conf))
        {
            return null;
        }

        string store;
        try
        {
            store = SoftHsmTokenFiles.FromConfig(conf).TokenStoreDirectory;
        }
        catch (InvalidDataException)
        {
            return null; // no token store named: SoftHSM itself will say what is wrong
        }

        return Directory.Exists(store) ? ForStore(store, patience) : null;
    }

    /// <summary>The lock of the SoftHSM token store in <paramref name="tokenStoreDirectory"/> (which must exist).</summary>
    public static TokenStoreLock ForStore(string tokenStoreDirectory, TimeSpan? patience = null)
    {
        // A regular file beside the token directories: SoftHSM only looks at sub-directories.
        var path = System.IO.Path.Combine(tokenStoreDirectory, ".jpki-token-store.lock");
        var fd = Open(path, OpenReadWrite | OpenCreate | OpenCloseOnExec, Convert.ToInt32("600", 8));
        if (fd < 0)
        {
            throw new IOException($"cannot open the token store lock {path} (errno {Marshal.GetLastPInvokeError()})");
        }

        return new TokenStoreLock(path, fd, patience ?? TimeSpan.FromSeconds(60));
    }

    /// <summary>Holds the lock until the returned scope is disposed; re-entrant on one thread.</summary>
    /// <exception cref="HsmTokenStoreBusyException">another process held it longer than the patience allows.</exception>
    public Scope Enter()
    {
        _threads.Enter();
        try
        {
            if (_depth == 0)
            {
                TakeFileLock();
            }

            _depth++;
            return new Scope(this);
        }
        catch
        {
            _threads.Exit();
            throw;
        }
    }

    private void TakeFileLock()
    {
        // Non-blocking attempts with a deadline rather than a blocking flock: a process stuck
        // inside the module must not hang every other process for ever without a word.
        var deadline = Environment.TickCount64 + (long)_patience.TotalMilliseconds;
        var pause = 2;
        while (true)
        {
            if (Flock(_fd, LockExclusive | LockNonBlocking) == 0)
            {
                return;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno != EWouldBlock && errno != 4 /* EINTR */)
            {
                throw new IOException($"flock({Path}) failed (errno {errno})");
            }

            if (Environment.TickCount64 > deadline)
            {
                throw new HsmTokenStoreBusyException(Path, _patience);
            }

            Thread.Sleep(pause);
            pause = Math.Min(pause * 2, 50);
        }
    }

    private void Exit()
    {
        if (--_depth == 0)
        {
            // LOCK_UN on a descriptor we hold cannot fail short of EBADF, which Dispose rules out.
            _ = Flock(_fd, Unlock);
        }

        _threads.Exit();
    }

    // Closing the descriptor drops any flock still held; nothing useful to do if close fails.
    public void Dispose() => _ = Close(_fd);

    private const int OpenReadWrite = 2;
    private const int OpenCreate = 0x40;
    private const int OpenCloseOnExec = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    /// <summary>One holding of the lock.</summary>
    public readonly struct Scope(TokenStoreLock? owner) : IDisposable
    {
        public void Dispose() => owner?.Exit();
    }
}
