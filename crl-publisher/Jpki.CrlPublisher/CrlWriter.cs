using System.Security.Cryptography;
using Jpki.Core.Store;
using Jpki.Hsm;

namespace Jpki.CrlPublisher;

/// <summary>Everything of a CRL but its entries and signature.</summary>
public sealed record CrlContent
{
    /// <summary>The issuer's Name, the exact bytes of the root certificate's subject.</summary>
    public required byte[] IssuerNameDer { get; init; }

    /// <summary>The root certificate's subjectKeyIdentifier.</summary>
    public required byte[] AuthorityKeyIdentifier { get; init; }

    public required DateTimeOffset ThisUpdate { get; init; }

    public required DateTimeOffset NextUpdate { get; init; }

    public required long Number { get; init; }

    /// <summary>The issuingDistributionPoint extension value (critical); null for the full CRL.</summary>
    public byte[]? IssuingDistributionPoint { get; init; }

    /// <summary>Set on a delta CRL: the base CRL's number (deltaCRLIndicator, critical).</summary>
    public long? DeltaBaseNumber { get; init; }

    /// <summary>Set on a complete CRL of a series with deltas: where its delta is (freshestCRL).</summary>
    public string? FreshestCrlUrl { get; init; }
}

/// <summary>What was written: entries, bytes, the file's SHA-256.</summary>
public sealed record CrlWriteResult(long EntryCount, long SizeBytes, byte[] Sha256);

/// <summary>
/// Writes a CertificateList (RFC 5280 §5.1) as DER to a stream without ever holding the entries:
/// a first pass over the entry source measures the revokedCertificates length (DER needs it up
/// front), a second writes them while the TBSCertList goes through SHA-256, and only the digest
/// goes to the signer (the HSM). Memory is one entry's bytes and a 64 KiB buffer, whatever the
/// count. The entry source must yield the same rows each time (one snapshot). Given the size
/// from the store (an SQL aggregate, <see cref="CrlStore.CompleteEntriesSize"/>) the first pass is
/// skipped; what is written is checked against it either way.
/// </summary>
public static class CrlWriter
{
    private const int MaxEntryBytes = 128;

    public static CrlWriteResult Write(Stream output, CrlContent content, Func<IEnumerable<CrlEntryRow>> entries, ISigner signer, SignatureAlgorithm algorithm, CrlEntriesSize? measured = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(content);
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(algorithm);
        var signatureLength = SignatureLength(signer, algorithm);
        var algorithmDer = algorithm.Identifier.GetDerEncoded();
        var extensionsDer = CrlExtensions.Encode(content);
        var thisUpdate = Der.TruncateToSeconds(content.ThisUpdate);
        var nextUpdate = Der.TruncateToSeconds(content.NextUpdate);

        var (count, entriesLength) = measured is null ? Measure(entries) : (measured.Count, measured.Length);
        long tbsContent = 3 + algorithmDer.Length + content.IssuerNameDer.Length + Der.TimeLength(thisUpdate) + Der.TimeLength(nextUpdate)
            + (count > 0 ? Der.TotalLength(entriesLength) : 0)
            + Der.TotalLength(extensionsDer.Length);
        var outerContent = Der.TotalLength(tbsContent) + algorithmDer.Length + Der.TotalLength(signatureLength + 1);

        using var sink = new HashingSink(output);
        Span<byte> scratch = stackalloc byte[MaxEntryBytes];
        Span<byte> header = stackalloc byte[16];
        sink.Write(header[..Der.WriteHeader(header, Der.Sequence, outerContent)]);
        sink.BeginTbs();
        sink.Write(header[..Der.WriteHeader(header, Der.Sequence, tbsContent)]);
        sink.Write([Der.IntegerTag, 1, 1]);
        sink.Write(algorithmDer);
        sink.Write(content.IssuerNameDer);
        sink.Write(scratch[..Der.WriteTime(scratch, thisUpdate)]);
        sink.Write(scratch[..Der.WriteTime(scratch, nextUpdate)]);
        if (count > 0)
        {
            sink.Write(header[..Der.WriteHeader(header, Der.Sequence, entriesLength)]);
        }

        WriteEntries(sink, entries, count, entriesLength);
        sink.Write(header[..Der.WriteHeader(header, Der.ContextConstructed0, extensionsDer.Length)]);
        sink.Write(extensionsDer);
        var tbsDigest = sink.EndTbs();

        var signature = signer.SignDigest(algorithm, tbsDigest);
        if (signature.Length != signatureLength)
        {
            throw new InvalidOperationException($"the signer returned {signature.Length} bytes, the key's modulus is {signatureLength}");
        }

        sink.Write(algorithmDer);
        sink.Write(header[..Der.WriteHeader(header, Der.BitStringTag, signatureLength + 1)]);
        sink.Write([0]);
        sink.Write(signature);
        var (size, sha256) = sink.Finish();
        return new CrlWriteResult(count, size, sha256);
    }

    /// <summary>
    /// The outer SEQUENCE's length precedes the signature, so its length must be known before
    /// signing: RSA signatures are exactly the modulus size (ECDSA's DER size varies).
    /// </summary>
    private static int SignatureLength(ISigner signer, SignatureAlgorithm algorithm)
    {
        SignerSignatureFactory.EnsureCompatible(signer, algorithm);
        if (signer.KeyKind != KeyKind.Rsa)
        {
            throw new NotSupportedException("streamed CRLs are signed with RSA issuer keys (JPKI)");
        }

        return RsaModulusBytes(signer.SubjectPublicKeyInfo);
    }

    /// <summary>The first pass: the count and DER length of the entries, when the store did not give them.</summary>
    private static (long Count, long Length) Measure(Func<IEnumerable<CrlEntryRow>> entries)
    {
        Span<byte> scratch = stackalloc byte[MaxEntryBytes];
        long count = 0;
        long length = 0;
        foreach (var entry in entries())
        {
            length += EncodeEntry(scratch, entry);
            count++;
        }

        return (count, length);
    }

    /// <summary>The second pass: every entry, checked against what was measured (one snapshot, the right size formula).</summary>
    private static void WriteEntries(HashingSink sink, Func<IEnumerable<CrlEntryRow>> entries, long count, long entriesLength)
    {
        Span<byte> scratch = stackalloc byte[MaxEntryBytes];
        long written = 0;
        long writtenLength = 0;
        if (count > 0)
        {
            foreach (var entry in entries())
            {
                var length = EncodeEntry(scratch, entry);
                sink.Write(scratch[..length]);
                written++;
                writtenLength += length;
            }
        }

        if (written != count || writtenLength != entriesLength)
        {
            throw new InvalidOperationException($"the entries written ({written}, {writtenLength} bytes) are not the {count} entries of {entriesLength} bytes measured: not one snapshot, or the size formula is wrong");
        }
    }

    /// <summary>One revokedCertificates entry (RFC 5280 §5.3): serial, date, reasonCode unless unspecified, invalidityDate.</summary>
    public static int EncodeEntry(Span<byte> destination, CrlEntryRow entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        Span<byte> serial = stackalloc byte[21];
        if (entry.Serial.Length is 0 or > 40 || entry.Serial.Length % 2 != 0
            || Convert.FromHexString(entry.Serial, serial, out _, out var serialLength) != System.Buffers.OperationStatus.Done
            || (serial[0] & 0x80) != 0 || (serialLength > 1 && serial[0] == 0 && (serial[1] & 0x80) == 0))
        {
            throw new FormatException($"stored serial '{entry.Serial}' is not the hex of a positive DER INTEGER");
        }

        // Content first at offset 2 (an entry is always under 128 bytes: a one-byte length).
        var at = 2;
        destination[at++] = Der.IntegerTag;
        destination[at++] = (byte)serialLength;
        serial[..serialLength].CopyTo(destination[at..]);
        at += serialLength;
        at += Der.WriteTime(destination[at..], Der.TruncateToSeconds(Instant.FromMicros(entry.RevokedAtUs)));

        var reason = entry.Reason is { } r and not 0 ? (byte)r : (byte)0;
        var hasInvalidity = entry.InvalidityDate is not null;
        if (reason != 0 || hasInvalidity)
        {
            var extensionsLength = (reason != 0 ? 12 : 0) + (hasInvalidity ? 26 : 0);
            destination[at++] = Der.Sequence;
            destination[at++] = (byte)extensionsLength;
            if (reason != 0)
            {
                // Extension { reasonCode, OCTET STRING { ENUMERATED reason } }
                ReadOnlySpan<byte> prefix = [Der.Sequence, 10, 0x06, 3, 0x55, 0x1D, 0x15, Der.OctetString, 3, Der.Enumerated, 1];
                prefix.CopyTo(destination[at..]);
                at += prefix.Length;
                destination[at++] = reason;
            }

            if (hasInvalidity)
            {
                // Extension { invalidityDate, OCTET STRING { GeneralizedTime } }: 00:00 JST of the stored day.
                ReadOnlySpan<byte> prefix = [Der.Sequence, 24, 0x06, 3, 0x55, 0x1D, 0x18, Der.OctetString, 17];
                prefix.CopyTo(destination[at..]);
                at += prefix.Length;
                var day = Instant.ParseDateText(entry.InvalidityDate!);
                at += Der.WriteGeneralizedTime(destination[at..], new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.FromHours(9)));
            }
        }

        destination[0] = Der.Sequence;
        destination[1] = (byte)(at - 2);
        return at;
    }

    public static int RsaModulusBytes(byte[] subjectPublicKeyInfo)
    {
        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(subjectPublicKeyInfo, out _);
        return (rsa.KeySize + 7) / 8;
    }

    /// <summary>Buffers output, hashes all of it (the file's SHA-256) and the TBS part on its own (what is signed).</summary>
    private sealed class HashingSink(Stream output) : IDisposable
    {
        private readonly byte[] buffer = new byte[64 * 1024];
        private readonly IncrementalHash fileHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly IncrementalHash tbsHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private int used;
        private long size;
        private bool inTbs;

        public void Write(ReadOnlySpan<byte> data)
        {
            while (data.Length > 0)
            {
                if (used == buffer.Length)
                {
                    Flush();
                }

                var n = Math.Min(data.Length, buffer.Length - used);
                data[..n].CopyTo(buffer.AsSpan(used));
                used += n;
                data = data[n..];
            }
        }

        public void BeginTbs()
        {
            Flush();
            inTbs = true;
        }

        public byte[] EndTbs()
        {
            Flush();
            inTbs = false;
            return tbsHash.GetHashAndReset();
        }

        public (long Size, byte[] Sha256) Finish()
        {
            Flush();
            output.Flush();
            return (size, fileHash.GetHashAndReset());
        }

        public void Dispose()
        {
            fileHash.Dispose();
            tbsHash.Dispose();
        }

        private void Flush()
        {
            if (used == 0)
            {
                return;
            }

            var chunk = buffer.AsSpan(0, used);
            fileHash.AppendData(chunk);
            if (inTbs)
            {
                tbsHash.AppendData(chunk);
            }

            output.Write(chunk);
            size += used;
            used = 0;
        }
    }
}
