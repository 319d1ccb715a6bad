using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Jpki.Core.Audit;

/// <summary>
/// A signed statement "the chain had record <see cref="Seq"/> with hash <see cref="Hash"/> at
/// <see cref="TimeUs"/>". The signature covers the canonical JSON of {seq, hash, time}.
/// <see cref="KeyId"/> is the lowercase hex SHA-256 of the signer's SubjectPublicKeyInfo DER.
/// </summary>
/// <para>
/// A checkpoint-key handover (decision 0421) is one checkpoint with one <see cref="Cosignatures"/>
/// entry: <see cref="KeyId"/> is the old key's, the cosignature the new key's, over the same statement.
/// </para>
public sealed record AuditCheckpoint(long Seq, string Hash, long TimeUs, string KeyId, byte[] Signature)
{
    /// <summary>Further signatures over the same statement: the new key's, on a handover checkpoint; else none.</summary>
    public IReadOnlyList<CheckpointSignature> Cosignatures { get; init; } = [];

    /// <summary>True when this checkpoint hands the checkpoint key over (signed by the old and the new key).</summary>
    public bool IsHandover => Cosignatures.Count > 0;

    /// <summary>The exact bytes that are signed.</summary>
    public byte[] Statement() => StatementFor(Seq, Hash, TimeUs);

    public static byte[] StatementFor(long seq, string hash, long timeUs) =>
        CanonicalJson.ToUtf8Bytes(new JsonObject { ["seq"] = seq, ["hash"] = hash, ["time"] = timeUs });

    public static string KeyIdOf(byte[] subjectPublicKeyInfo) =>
        Convert.ToHexStringLower(SHA256.HashData(subjectPublicKeyInfo));

    /// <summary>True when every field, signature bytes included, is the same.</summary>
    public bool SameAs(AuditCheckpoint other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Seq == other.Seq && TimeUs == other.TimeUs
            && string.Equals(Hash, other.Hash, StringComparison.Ordinal)
            && string.Equals(KeyId, other.KeyId, StringComparison.Ordinal)
            && Signature.AsSpan().SequenceEqual(other.Signature)
            && Cosignatures.Count == other.Cosignatures.Count
            && Cosignatures.Zip(other.Cosignatures).All(p => string.Equals(p.First.KeyId, p.Second.KeyId, StringComparison.Ordinal) && p.First.Signature.AsSpan().SequenceEqual(p.Second.Signature));
    }

    /// <summary>
    /// One line of the checkpoint file (canonical JSON, signature in base64); a handover's line
    /// also has <c>cosignatures</c> (absent on every other line, so those read as they always did).
    /// </summary>
    public string ToFileLine()
    {
        var line = new JsonObject
        {
            ["seq"] = Seq,
            ["hash"] = Hash,
            ["time"] = TimeUs,
            ["keyId"] = KeyId,
            ["signature"] = Convert.ToBase64String(Signature),
        };
        if (IsHandover)
        {
            line["cosignatures"] = new JsonArray(Cosignatures.Select(c => (JsonNode)new JsonObject { ["keyId"] = c.KeyId, ["signature"] = Convert.ToBase64String(c.Signature) }).ToArray());
        }

        return CanonicalJson.Serialize(line);
    }

    /// <summary>Parses a checkpoint file line; null when it is not a well-formed checkpoint.</summary>
    public static AuditCheckpoint? ParseFileLine(string line)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            var root = document.RootElement;
            var cosignatures = root.TryGetProperty("cosignatures", out var list)
                ? list.EnumerateArray().Select(c => new CheckpointSignature(
                    c.GetProperty("keyId").GetString() ?? throw new FormatException("keyId is null"),
                    Convert.FromBase64String(c.GetProperty("signature").GetString() ?? throw new FormatException("signature is null")))).ToList()
                : [];
            return new AuditCheckpoint(
                root.GetProperty("seq").GetInt64(),
                root.GetProperty("hash").GetString() ?? throw new FormatException("hash is null"),
                root.GetProperty("time").GetInt64(),
                root.GetProperty("keyId").GetString() ?? throw new FormatException("keyId is null"),
                Convert.FromBase64String(root.GetProperty("signature").GetString() ?? throw new FormatException("signature is null")))
            {
                Cosignatures = cosignatures,
            };
        }
        catch (Exception e) when (e is JsonException or FormatException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }
}

/// <summary>
/// The copy of the checkpoints kept outside the database, so that rewriting or truncating the
/// database chain is detected even by someone who controls the database.
/// </summary>
public sealed class AuditCheckpointFile(string path)
{
    private static readonly TimeSpan LockWait = TimeSpan.FromSeconds(30);

    public string Path { get; } = path;

    /// <summary>
    /// Appends one line and fsyncs. .NET does not open with O_APPEND on Unix, so processes sharing
    /// the file take an exclusive lock (FileShare.None → flock) around seek-to-end + write.
    /// </summary>
    public void Append(AuditCheckpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        Append([checkpoint]);
    }

    /// <summary>Appends one line per checkpoint, in order, with one write and one fsync (the checkpoints of one transaction).</summary>
    public void Append(IReadOnlyList<AuditCheckpoint> checkpoints)
    {
        ArgumentNullException.ThrowIfNull(checkpoints);
        if (checkpoints.Count == 0)
        {
            return;
        }

        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        var line = Encoding.UTF8.GetBytes(string.Concat(checkpoints.Select(c => c.ToFileLine() + "\n")));
        // A monotonic timer, not the clock: this only bounds how long to wait for the lock.
        var waiting = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var stream = new FileStream(Path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.None, 1, FileOptions.None);
                stream.Seek(0, SeekOrigin.End);
                stream.Write(line);
                stream.Flush(flushToDisk: true);
                return;
            }
            catch (IOException) when (waiting.Elapsed < LockWait && File.Exists(Path))
            {
                // Another process holds the lock for the few microseconds of its write.
                Thread.Sleep(Random.Shared.Next(1, 10));
            }
        }
    }

    /// <summary>
    /// Reads every line: well-formed checkpoints and the 1-based numbers of malformed lines.
    /// A missing file reads as empty.
    /// </summary>
    public (IReadOnlyList<AuditCheckpoint> Checkpoints, IReadOnlyList<int> MalformedLines) ReadAll()
    {
        var checkpoints = new List<AuditCheckpoint>();
        var malformed = new List<int>();
        if (!File.Exists(Path))
        {
            return (checkpoints, malformed);
        }

        using var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            if (line.Length == 0)
            {
                continue;
            }

            if (AuditCheckpoint.ParseFileLine(line) is { } checkpoint)
            {
                checkpoints.Add(checkpoint);
            }
            else
            {
                malformed.Add(number);
            }
        }

        return (checkpoints, malformed);
    }
}
