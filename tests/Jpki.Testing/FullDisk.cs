namespace Jpki.Testing;

/// <summary>
/// A small file system of a test's own (a tmpfs, size-bounded, mounted on a directory of the
/// test: the tests run as root) and a filler file that takes its last byte, as the disk-full
/// fault tests use them (docs/faults.md). Deleting the filler gives the space back.
/// </summary>
public static class FullDisk
{
    /// <summary>
    /// Mounts a tmpfs of <paramref name="megabytes"/> MiB on <paramref name="directory"/> (created if
    /// missing), owned by <paramref name="owner"/> when given (a PostgreSQL tablespace must belong to
    /// the server's user). Root still fills it: a tmpfs keeps no blocks in reserve for root.
    /// </summary>
    public static void Mount(string directory, int megabytes, string? owner = null)
    {
        Directory.CreateDirectory(directory);
        var mount = ExternalProcess.Run("mount", "-t", "tmpfs", "-o", $"size={megabytes}m,mode=0700", "tmpfs", directory);
        if (mount.ExitCode != 0)
        {
            throw new InvalidOperationException($"mount tmpfs on {directory} (the tests run as root): {mount.Output}");
        }

        if (owner is not null)
        {
            var chown = ExternalProcess.Run("chown", $"{owner}:{owner}", directory);
            if (chown.ExitCode != 0)
            {
                throw new InvalidOperationException($"chown {owner} {directory}: {chown.Output}");
            }
        }
    }

    /// <summary>Unmounts what <see cref="Mount"/> mounted (lazily: a process of the test may still hold a file there).</summary>
    public static void Unmount(string directory) => ExternalProcess.Run("umount", "-l", directory);

    /// <summary>Writes <paramref name="path"/> until the file system refuses (ENOSPC), to its last 4 KiB block; the bytes written.</summary>
    public static long Fill(string path)
    {
        var chunk = new byte[1024 * 1024];
        long written = 0;
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1);
        try
        {
            for (var i = 0; i < 4096; i++)
            {
                file.Write(chunk);
                written += chunk.Length;
            }
        }
        catch (IOException)
        {
            var small = new byte[4096];
            try
            {
                for (var i = 0; i < 256; i++)
                {
                    file.Write(small);
                    written += small.Length;
                }
            }
            catch (IOException)
            {
            }
        }

        return written;
    }

    /// <summary><c>PRAGMA integrity_check</c> of a SQLite file, opened read-only (it needs no byte of the full disk).</summary>
    public static string IntegrityCheck(string databasePath)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={databasePath};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA integrity_check";
        var lines = new List<string>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            lines.Add(reader.GetString(0));
        }

        return string.Join("; ", lines);
    }
}
