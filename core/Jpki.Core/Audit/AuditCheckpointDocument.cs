using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Jpki.Core.Audit;

/// <summary>One signature over a checkpoint's statement.</summary>
public sealed record CheckpointSignature(string KeyId, byte[] Signature);

/// <summary>A checkpoint key as a witness file carries it: SPKI DER, the self-signed certificate when known.</summary>
public sealed record CheckpointKey(string KeyId, byte[] SubjectPublicKeyInfo, byte[]? Certificate);

/// <summary>
/// The self-describing witness file of one checkpoint (<c>GET /api/v1/audit/checkpoints/latest</c>,
/// <c>./jpki audit checkpoint --out</c>, every push to the witness): canonical JSON of
/// <c>{ checkpoint, cosignatures, format, keys, statement }</c> where <c>checkpoint</c> is the line of
/// the checkpoint file, <c>cosignatures</c> further signatures over the same statement (a
/// checkpoint-key renewal is signed by the old and the new key), <c>keys</c> every signing key's
/// SubjectPublicKeyInfo, its SHA-256 (= keyId) and certificate with its SHA-256, and
/// <c>statement</c> the exact signed bytes. Nothing in it needs the CA to be checked.
/// </summary>
public sealed record AuditCheckpointDocument(long Seq, string Hash, long TimeUs, IReadOnlyList<CheckpointSignature> Signatures, IReadOnlyList<CheckpointKey> Keys)
{
    public const string Format = "jpki-audit-checkpoint-v1";

    /// <summary>Where the document was read from (a file path), for messages; null when built here.</summary>
    public string? Origin { get; init; }

    /// <summary>The checkpoint as the document's <c>checkpoint</c> member holds it (the first signature only).</summary>
    public AuditCheckpoint Checkpoint => new(Seq, Hash, TimeUs, Signatures[0].KeyId, Signatures[0].Signature);

    /// <summary>The checkpoint as the store and the checkpoint file hold it: a handover's cosignatures too.</summary>
    public AuditCheckpoint StoredCheckpoint => Checkpoint with { Cosignatures = Signatures.Skip(1).ToList() };

    public byte[] Statement() => AuditCheckpoint.StatementFor(Seq, Hash, TimeUs);

    /// <summary>The document of a stored checkpoint (a handover's cosignature too), with the certificate of each key that signed it.</summary>
    /// <exception cref="InvalidOperationException">None of <paramref name="certificates"/> is a signing key's.</exception>
    public static AuditCheckpointDocument From(AuditCheckpoint checkpoint, IEnumerable<byte[]> certificates)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(certificates);
        var known = certificates.Select(der => (Der: der, Spki: CheckpointKeyring.SubjectPublicKeyInfoOf(der))).ToList();
        var signatures = new List<CheckpointSignature> { new(checkpoint.KeyId, checkpoint.Signature) };
        signatures.AddRange(checkpoint.Cosignatures);
        var keys = new List<CheckpointKey>();
        foreach (var signature in signatures)
        {
            var (der, spki) = known.FirstOrDefault(c => string.Equals(AuditCheckpoint.KeyIdOf(c.Spki), signature.KeyId, StringComparison.Ordinal));
            keys.Add(der is null
                ? throw new InvalidOperationException($"no checkpoint key certificate in the store is the key {signature.KeyId} that signed checkpoint {checkpoint.Seq}")
                : new CheckpointKey(signature.KeyId, spki, der));
        }

        return new AuditCheckpointDocument(checkpoint.Seq, checkpoint.Hash, checkpoint.TimeUs, signatures, keys);
    }

    /// <summary>The document of the newest checkpoint in the store, or null when none was signed yet.</summary>
    public static AuditCheckpointDocument? Latest(Store.Database database)
    {
        ArgumentNullException.ThrowIfNull(database);
        using var db = database.OpenConnection();
        return AuditCheckpointStore.Latest(db) is { } latest ? From(latest, CheckpointCertificates(db)) : null;
    }

    /// <summary>The certificates of every checkpoint key the store lists.</summary>
    public static List<byte[]> CheckpointCertificates(System.Data.Common.DbConnection db) =>
        Issuers.IssuerStore.ListInstallKeys(db, "audit-checkpoint").Where(k => k.CertificateDer is not null).Select(k => k.CertificateDer!).ToList();

    /// <summary>The file's bytes: canonical JSON and a newline, the same for the same checkpoint every time.</summary>
    public byte[] ToUtf8Bytes()
    {
        var keys = new JsonArray();
        foreach (var key in Keys)
        {
            var entry = new JsonObject
            {
                ["keyId"] = key.KeyId,
                ["subjectPublicKeyInfo"] = Convert.ToBase64String(key.SubjectPublicKeyInfo),
            };
            if (key.Certificate is { } certificate)
            {
                entry["certificate"] = Convert.ToBase64String(certificate);
                entry["certificateSha256"] = Convert.ToHexStringLower(SHA256.HashData(certificate));
            }

            keys.Add(entry);
        }

        var cosignatures = new JsonArray();
        foreach (var signature in Signatures.Skip(1))
        {
            cosignatures.Add(new JsonObject { ["keyId"] = signature.KeyId, ["signature"] = Convert.ToBase64String(signature.Signature) });
        }

        var document = new JsonObject
        {
            ["format"] = Format,
            ["checkpoint"] = JsonNode.Parse(Checkpoint.ToFileLine()),
            ["cosignatures"] = cosignatures,
            ["keys"] = keys,
            ["statement"] = Encoding.UTF8.GetString(Statement()),
        };
        return Encoding.UTF8.GetBytes(CanonicalJson.Serialize(document) + "\n");
    }

    /// <summary>Reads a witness file.</summary>
    /// <exception cref="AuditWitnessFileException">It is not a well-formed, self-consistent checkpoint document.</exception>
    public static AuditCheckpointDocument Parse(string text, string origin)
    {
        ArgumentNullException.ThrowIfNull(text);
        try
        {
            using var json = JsonDocument.Parse(text);
            return AuditCheckpointDocumentReader.Read(json.RootElement, origin);
        }
        catch (JsonException e)
        {
            throw new AuditWitnessFileException(origin, $"not JSON ({e.Message})", e);
        }
    }

    /// <summary>Reads the witness file at <paramref name="path"/>.</summary>
    /// <exception cref="AuditWitnessFileException">Unreadable, or not a checkpoint document.</exception>
    public static AuditCheckpointDocument Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AuditWitnessFileException(path, $"cannot be read ({e.Message})", e);
        }

        return Parse(text, path);
    }
}

/// <summary>A witness file that is not a well-formed, self-consistent checkpoint document.</summary>
public sealed class AuditWitnessFileException : FormatException
{
    public AuditWitnessFileException(string origin, string problem, Exception? inner = null)
        : base($"witness file {origin}: {problem}", inner)
    {
        Origin = origin;
        Problem = problem;
    }

    public string Origin { get; }

    public string Problem { get; }
}
