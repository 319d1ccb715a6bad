using System.Runtime.InteropServices;

namespace Jpki.CrlPublisher;

/// <summary>The directory cannot be opened or flushed to disk.</summary>
public sealed class DirectorySyncException(string message) : IOException(message);

/// <summary>
/// fsync(2) of a directory, so that a rename in it survives a power cut (a file's own fsync makes
/// its bytes durable, not the directory entry that names it). .NET has no API for it; on Linux a
/// directory is opened read-only with O_DIRECTORY and flushed.
/// </summary>
public static partial class DirectorySync
{
    private const int ReadOnly = 0;
    private const int Directory = 0x10000; // O_DIRECTORY on Linux (x86-64 and arm64)
    private const int CloseOnExec = 0x80000;

    public static void Flush(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!OperatingSystem.IsLinux())
        {
            return; // other systems: the rename is atomic; its durability is the file system's
        }

        var fd = Open(directory, ReadOnly | Directory | CloseOnExec);
        if (fd < 0)
        {
            throw new DirectorySyncException($"cannot open directory '{directory}' to flush it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (Fsync(fd) != 0)
            {
                throw new DirectorySyncException($"fsync of directory '{directory}' failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
