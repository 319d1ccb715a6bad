using System.Runtime.InteropServices;

namespace Jpki.Hosting;

/// <summary>
/// The two file-system calls .NET does not offer: the process umask, and fsync of a directory
/// (which makes a rename in it durable).
/// </summary>
public static class UnixFiles
{
    /// <summary>No access for group or others on anything this process creates from now on (umask 077).</summary>
    public const int OwnerOnlyMask = 0b000_111_111;

    /// <summary>
    /// Sets the process umask to 077, so that every file and directory created afterwards — the
    /// store and its -wal/-shm, logs, CRLs, archives, checkpoint file — is 0600/0700 (issue 16:
    /// <c>var/</c> held password and token hashes readable by any local user). Called first thing
    /// in each program's Main, not in the host builders: tests host services in their own process.
    /// Returns the previous mask.
    /// </summary>
    public static int RestrictNewFilesToOwner() => OperatingSystem.IsWindows() ? 0 : SetUmask(OwnerOnlyMask);

    /// <summary>The current umask (read by setting it and putting it back).</summary>
    public static int CurrentUmask()
    {
        if (OperatingSystem.IsWindows())
        {
            return 0;
        }

        var mask = SetUmask(OwnerOnlyMask);
        _ = SetUmask(mask);
        return mask;
    }

    /// <summary>fsyncs <paramref name="directory"/>, so that names created or renamed in it survive a power cut.</summary>
    /// <exception cref="IOException">The directory cannot be opened or synced.</exception>
    public static void SyncDirectory(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        const int readOnlyDirectory = 0x10000; // O_RDONLY | O_DIRECTORY on Linux
        var descriptor = Open(directory, readOnlyDirectory);
        if (descriptor < 0)
        {
            throw new IOException($"cannot open directory '{directory}' to sync it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (Fsync(descriptor) != 0)
            {
                throw new IOException($"fsync of directory '{directory}' failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = Close(descriptor);
        }
    }

    // DllImport rather than LibraryImport: the source-generated form needs unsafe code in this
    // project, and these signatures (ints and one UTF-8 path) marshal without any.
    [DllImport("libc", EntryPoint = "umask")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SetUmask(int mask);

    [DllImport("libc", EntryPoint = "open", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Fsync(int descriptor);

    [DllImport("libc", EntryPoint = "close")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Close(int descriptor);
}
