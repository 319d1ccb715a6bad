using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Jpki.Core.Audit;

/// <summary>
/// The checks of <see cref="AuditCheckpointDocument.Parse"/>: every field present and typed,
/// hashes 64 lowercase hex digits, each key's keyId the SHA-256 of its SubjectPublicKeyInfo and
/// its certificate (if any) for that key with the SHA-256 given, each signature by a listed key,
/// the statement the one the fields make. Signatures are checked later, against the pinned key.
/// </summary>
internal static class AuditCheckpointDocumentReader
{
    public static AuditCheckpointDocument Read(JsonElement root, string origin)
    {
        if (root.ValueKind != JsonValueKind.Object || Text(root, "format", origin) != AuditCheckpointDocument.Format)
        {
            throw Bad(origin, $"not a checkpoint document (\"format\" must be \"{AuditCheckpointDocument.Format}\")");
        }

        var checkpoint = Member(root, "checkpoint", JsonValueKind.Object, origin);
        var seq = Integer(checkpoint, "seq", origin);
        var time = Integer(checkpoint, "time", origin);
        var hash = Sha256Hex(checkpoint, "hash", origin);
        var signatures = new List<CheckpointSignature> { new(Sha256Hex(checkpoint, "keyId", origin), Base64(checkpoint, "signature", origin)) };
        foreach (var cosignature in Member(root, "cosignatures", JsonValueKind.Array, origin).EnumerateArray())
        {
            signatures.Add(new CheckpointSignature(Sha256Hex(cosignature, "keyId", origin), Base64(cosignature, "signature", origin)));
        }

        var keys = new List<CheckpointKey>();
        foreach (var key in Member(root, "keys", JsonValueKind.Array, origin).EnumerateArray())
        {
            keys.Add(ReadKey(key, origin));
        }

        if (signatures.FirstOrDefault(s => !keys.Any(k => k.KeyId == s.KeyId)) is { } unlisted)
        {
            throw Bad(origin, $"the signature by key {unlisted.KeyId} has no entry in \"keys\"");
        }

        if (seq < 1 || Text(root, "statement", origin) != Encoding.UTF8.GetString(AuditCheckpoint.StatementFor(seq, hash, time)))
        {
            throw Bad(origin, "\"statement\" is not the canonical {hash, seq, time} of the checkpoint (or seq < 1)");
        }

        return new AuditCheckpointDocument(seq, hash, time, signatures, keys) { Origin = origin };
    }

    private static CheckpointKey ReadKey(JsonElement key, string origin)
    {
        var keyId = Sha256Hex(key, "keyId", origin);
        var spki = Base64(key, "subjectPublicKeyInfo", origin);
        if (AuditCheckpoint.KeyIdOf(spki) != keyId)
        {
            throw Bad(origin, $"key {keyId}: its subjectPublicKeyInfo hashes to {AuditCheckpoint.KeyIdOf(spki)}, not to its keyId");
        }

        if (!key.TryGetProperty("certificate", out _))
        {
            return new CheckpointKey(keyId, spki, null);
        }

        var certificate = Base64(key, "certificate", origin);
        if (Convert.ToHexStringLower(SHA256.HashData(certificate)) != Sha256Hex(key, "certificateSha256", origin))
        {
            throw Bad(origin, $"key {keyId}: the certificate does not hash to its certificateSha256");
        }

        byte[] certifiedSpki;
        try
        {
            certifiedSpki = CheckpointKeyring.SubjectPublicKeyInfoOf(certificate);
        }
        catch (Exception e) when (e is ArgumentException or IOException or Org.BouncyCastle.Security.Certificates.CertificateException or InvalidOperationException or FormatException)
        {
            throw Bad(origin, $"key {keyId}: the certificate is not a DER X.509 certificate", e);
        }

        return certifiedSpki.AsSpan().SequenceEqual(spki)
            ? new CheckpointKey(keyId, spki, certificate)
            : throw Bad(origin, $"key {keyId}: the certificate is for another key");
    }

    private static JsonElement Member(JsonElement parent, string name, JsonValueKind kind, string origin) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out var value) && value.ValueKind == kind
            ? value
            : throw Bad(origin, $"\"{name}\" is missing or not {(kind == JsonValueKind.Array ? "an array" : "an " + kind.ToString().ToLowerInvariant())}");

    private static string Text(JsonElement parent, string name, string origin) =>
        Member(parent, name, JsonValueKind.String, origin).GetString()!;

    private static long Integer(JsonElement parent, string name, string origin) =>
        Member(parent, name, JsonValueKind.Number, origin).TryGetInt64(out var value) ? value : throw Bad(origin, $"\"{name}\" is not an integer");

    private static string Sha256Hex(JsonElement parent, string name, string origin)
    {
        var text = Text(parent, name, origin);
        return text.Length == 64 && text.All(char.IsAsciiHexDigitLower)
            ? text
            : throw Bad(origin, $"\"{name}\" is not a SHA-256 in 64 lowercase hex digits: '{(text.Length > 80 ? text[..80] + "…" : text)}'");
    }

    private static byte[] Base64(JsonElement parent, string name, string origin)
    {
        try
        {
            return Convert.FromBase64String(Text(parent, name, origin));
        }
        catch (FormatException e)
        {
            throw Bad(origin, $"\"{name}\" is not base64", e);
        }
    }

    private static AuditWitnessFileException Bad(string origin, string problem, Exception? inner = null) => new(origin, problem, inner);
}
