namespace Jpki.CrlPublisher;

/// <summary>The archive copy of a CRL could not be made (or did not hash to what was built): nothing was published.</summary>
public sealed class CrlArchiveException(string message) : IOException(message);

/// <summary>
/// The CRL publisher's file disciplines outside the published file itself: the archive copy
/// (temporary file, fsync, hash check, rename, directory fsync) and the sweep of numbered files
/// that killed builds left behind.
/// </summary>
internal static class CrlFiles
{
    /// <summary>The number just published, the series' previous one, and the numbers between them that have an archive row.</summary>
    public sealed record Published(long Number, long Previous, IReadOnlyList<long> Recorded);

    /// <summary>
    /// Removes what builds that can no longer publish left behind: a process killed while it built
    /// (SIGKILL, a power cut) runs no finally block. Temporary files numbered below the published
    /// number (their commit would be refused as superseded), and archive copies numbered between the
    /// previous publication and this one without an archive row (killed between the archive copy
    /// and the commit). Best effort: a file already gone, or an I/O error, leaves the rest for the
    /// next publication (docs/decisions/0251-crl-leftovers-of-killed-builds.md).
    /// </summary>
    public static void RemoveLeftovers(string directory, IEnumerable<string> fileNames, string archive, Published published)
    {
        try
        {
            foreach (var name in fileNames)
            {
                DeleteNumberedBelow(directory, $".{name}.", ".tmp", published.Number);
            }

            DeleteNumberedBelow(archive, ".", ".crl.tmp", published.Number);
            foreach (var file in Directory.EnumerateFiles(archive, "*.crl"))
            {
                if (NumberOf(Path.GetFileName(file), "", ".crl") is { } number && number > published.Previous && number < published.Number && !published.Recorded.Contains(number))
                {
                    File.Delete(file);
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Deletes the files <c>{prefix}{number}{suffix}</c> of <paramref name="directory"/> numbered below <paramref name="published"/>.</summary>
    private static void DeleteNumberedBelow(string directory, string prefix, string suffix, long published)
    {
        foreach (var file in Directory.EnumerateFiles(directory, prefix + "*" + suffix))
        {
            if (NumberOf(Path.GetFileName(file), prefix, suffix) is { } number && number < published)
            {
                File.Delete(file);
            }
        }
    }

    /// <summary>The number in <c>{prefix}{number}{suffix}</c>; null for any other name.</summary>
    private static long? NumberOf(string name, string prefix, string suffix) =>
        name.Length > prefix.Length + suffix.Length && name.StartsWith(prefix, StringComparison.Ordinal) && name.EndsWith(suffix, StringComparison.Ordinal)
        && long.TryParse(name.AsSpan(prefix.Length, name.Length - prefix.Length - suffix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number)
            ? number
            : null;

    /// <summary>
    /// Copies the checked temporary file to the archive with the published file's discipline:
    /// write a temporary file, fsync, check its SHA-256 against what was built (the digest the
    /// archive row records), rename (never over an existing file), fsync the directory.
    /// </summary>
    public static void Archive(string source, string destination, byte[] sha256)
    {
        var directory = Path.GetDirectoryName(destination)!;
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, $".{Path.GetFileName(destination)}.tmp");
        try
        {
            using (var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024))
            using (var output = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024))
            using (var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256))
            {
                var buffer = new byte[64 * 1024];
                int read;
                while ((read = input.Read(buffer)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    output.Write(buffer, 0, read);
                }

                output.Flush(flushToDisk: true);
                if (!hash.GetHashAndReset().AsSpan().SequenceEqual(sha256))
                {
                    throw new CrlArchiveException($"the archive copy {destination} does not hash to the CRL that was built");
                }
            }

            File.Move(temporary, destination, overwrite: false);
            DirectorySync.Flush(directory);
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}
