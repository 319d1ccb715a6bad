using System.Buffers.Binary;
using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Jpki.Hsm;

/// <summary>
/// Backup and restore of SoftHSM tokens at the file level. SoftHSM keeps each token in one
/// directory of its token store (the key material inside is encrypted under the token's PINs),
/// so a backup is that directory in a tar archive with a SHA-256 manifest, and a restore puts
/// it back and bumps the token's generation counter, which is how SoftHSM tells every process
/// that has the token open to re-read it. A real HSM backs up with its own tools; only this
/// class would change.
/// </summary>
public sealed class SoftHsmTokenFiles(string tokenStoreDirectory)
{
    private const string ManifestName = "MANIFEST.json";

    public string TokenStoreDirectory { get; } = tokenStoreDirectory;

    /// <summary>The SoftHSM token store directory named by a softhsm2.conf file.</summary>
    public static SoftHsmTokenFiles FromConfig(string softHsmConfPath)
    {
        foreach (var line in File.ReadLines(softHsmConfPath))
        {
            var parts = line.Split('=', 2, StringSplitOptions.TrimEntries);
            if (parts.Length == 2 && parts[0] == "directories.tokendir")
            {
                return new SoftHsmTokenFiles(parts[1]);
            }
        }

        throw new InvalidDataException($"{softHsmConfPath} names no directories.tokendir");
    }

    /// <summary>The directory of the token labelled <paramref name="label"/> (its token.object holds the padded label).</summary>
    public string DirectoryOf(string label)
    {
        var padded = Encoding.UTF8.GetBytes(label.PadRight(32));
        foreach (var dir in Directory.GetDirectories(TokenStoreDirectory))
        {
            var tokenObject = Path.Combine(dir, "token.object");
            if (File.Exists(tokenObject) && File.ReadAllBytes(tokenObject).AsSpan().IndexOf(padded) >= 0)
            {
                return dir;
            }
        }

        throw new HsmTokenNotFoundException(label);
    }

    /// <summary>
    /// Writes the token's files and a SHA-256 manifest into a tar archive; returns the manifest.
    /// <paramref name="progress"/> hears each step (for a CLI's progress lines).
    /// </summary>
    public BackupManifest Backup(string label, string archivePath, Action<string>? progress = null)
    {
        // Under the store lock: no JPKI process rewrites token.object (a login) while its bytes
        // are hashed and copied, so the archive never holds a half-written file.
        progress?.Invoke($"taking the token store lock of {TokenStoreDirectory}");
        using var storeLock = TokenStoreLock.ForStore(TokenStoreDirectory);
        using var held = storeLock.Enter();
        var dir = DirectoryOf(label);
        var files = Directory.GetFiles(dir).Where(f => !f.EndsWith(".lock", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        var manifest = new BackupManifest(
            label,
            Path.GetFileName(dir),
            files.ToDictionary(f => Path.GetFileName(f), f => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f)))));

        var temp = archivePath + ".partial";
        using (var stream = File.Create(temp))
        using (var tar = new TarWriter(stream, TarEntryFormat.Pax, leaveOpen: false))
        {
            foreach (var file in files)
            {
                progress?.Invoke($"archiving {Path.GetFileName(file)} ({new FileInfo(file).Length} bytes)");
                tar.WriteEntry(file, Path.Combine(manifest.Directory, Path.GetFileName(file)));
            }

            var entry = new PaxTarEntry(TarEntryType.RegularFile, ManifestName)
            {
                DataStream = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(manifest)),
            };
            tar.WriteEntry(entry);
        }

        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, archivePath, overwrite: true);
        return manifest;
    }

    /// <summary>
    /// Restores a backup made by <see cref="Backup"/>: checks every file against the manifest
    /// before writing anything, refuses to overwrite a token that is present unless
    /// <paramref name="replace"/>, then signals the change to running processes.
    /// <paramref name="progress"/> hears each step (for a CLI's progress lines).
    /// </summary>
    public BackupManifest Restore(string archivePath, bool replace, Action<string>? progress = null)
    {
        progress?.Invoke($"reading {archivePath}");
        var (manifest, contents) = ReadChecked(archivePath, progress);
        var target = Path.Combine(TokenStoreDirectory, manifest.Directory);
        if (Directory.Exists(target) && !replace)
        {
            throw new InvalidOperationException($"token '{manifest.Label}' is present in {TokenStoreDirectory}; restore with replace to overwrite it");
        }

        // Under the store lock: no JPKI process reads the token's files while they are replaced.
        progress?.Invoke($"taking the token store lock and writing {manifest.Files.Count} files to {target}");
        using var storeLock = TokenStoreLock.ForStore(TokenStoreDirectory);
        using var held = storeLock.Enter();
        Directory.CreateDirectory(target);
        foreach (var (name, _) in manifest.Files)
        {
            var path = Path.Combine(target, name);
            File.WriteAllBytes(path, contents[$"{manifest.Directory}/{name}"]);
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        SignalChange(target);
        return manifest;
    }

    /// <summary>The archive's manifest and files, every file checked against the manifest's SHA-256, none outside the token's directory.</summary>
    private static (BackupManifest Manifest, Dictionary<string, byte[]> Contents) ReadChecked(string archivePath, Action<string>? progress)
    {
        var contents = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        BackupManifest? manifest = null;
        using (var stream = File.OpenRead(archivePath))
        using (var tar = new TarReader(stream))
        {
            while (tar.GetNextEntry() is { } entry)
            {
                if (entry.EntryType != TarEntryType.RegularFile || entry.DataStream is null)
                {
                    continue;
                }

                using var buffer = new MemoryStream();
                entry.DataStream.CopyTo(buffer);
                if (entry.Name == ManifestName)
                {
                    manifest = JsonSerializer.Deserialize<BackupManifest>(buffer.ToArray());
                }
                else
                {
                    contents[entry.Name] = buffer.ToArray();
                }
            }
        }

        if (manifest is null)
        {
            throw new InvalidDataException($"{archivePath} holds no {ManifestName}: not a token backup");
        }

        progress?.Invoke($"checking {manifest.Files.Count} files of token '{manifest.Label}' against the manifest's SHA-256");
        foreach (var (name, hash) in manifest.Files)
        {
            var key = $"{manifest.Directory}/{name}";
            if (!contents.TryGetValue(key, out var bytes) || Convert.ToHexStringLower(SHA256.HashData(bytes)) != hash)
            {
                throw new InvalidDataException($"{archivePath}: {name} is missing or does not match its SHA-256 in the manifest");
            }
        }

        if (contents.Keys.Any(k => !k.StartsWith(manifest.Directory + "/", StringComparison.Ordinal) || k.Count(c => c == '/') != 1))
        {
            throw new InvalidDataException($"{archivePath} holds files outside the token directory");
        }

        return (manifest, contents);
    }

    /// <summary>
    /// Increments the token's generation counter (an 8-byte big-endian number in the file
    /// "generation"), as SoftHSM does after every write: processes with the token open then
    /// re-index its objects instead of trusting what they cached.
    /// </summary>
    public static void SignalChange(string tokenDirectory)
    {
        var path = Path.Combine(tokenDirectory, "generation");
        var value = File.Exists(path) ? BinaryPrimitives.ReadUInt64BigEndian(File.ReadAllBytes(path)) : 0;
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, value + 1);
        File.WriteAllBytes(path, bytes);
    }
}

/// <summary>What a token backup holds: the token label, its directory name and each file's SHA-256.</summary>
public sealed record BackupManifest(string Label, string Directory, IReadOnlyDictionary<string, string> Files);
