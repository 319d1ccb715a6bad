using System.Security.Cryptography;
using Org.BouncyCastle.Crypto;

namespace Jpki.Hsm;

/// <summary>
/// Lets BouncyCastle's certificate, CRL and OCSP generators sign through an <see cref="ISigner"/>
/// (an HSM key). The bytes to be signed are hashed as the generator writes them and only the
/// 32-byte digest goes to the signer, so a CRL with millions of entries is never held in memory
/// by this class. Each <see cref="CreateCalculator"/> call gets its own hash, so one factory may
/// be shared by threads as long as the signer is thread-safe (as <see cref="ISigner"/> promises).
/// </summary>
public sealed class SignerSignatureFactory : ISignatureFactory
{
    private readonly ISigner _signer;
    private readonly SignatureAlgorithm _algorithm;

    /// <exception cref="ArgumentException">The signer's key kind cannot make <paramref name="algorithm"/> signatures.</exception>
    public SignerSignatureFactory(ISigner signer, SignatureAlgorithm algorithm)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(algorithm);
        EnsureCompatible(signer, algorithm);
        _signer = signer;
        _algorithm = algorithm;
    }

    /// <summary>The <see cref="Org.BouncyCastle.Asn1.X509.AlgorithmIdentifier"/> written next to the signature.</summary>
    public object AlgorithmDetails => _algorithm.Identifier;

    public SignatureAlgorithm Algorithm => _algorithm;

    public IStreamCalculator<IBlockResult> CreateCalculator() => new DigestThenSignCalculator(_signer, _algorithm);

    /// <summary>
    /// Fails early, with both kinds named, instead of letting the HSM reject the mechanism after
    /// the whole structure has been encoded.
    /// </summary>
    /// <exception cref="ArgumentException">The signer's key kind does not match the algorithm.</exception>
    public static void EnsureCompatible(ISigner signer, SignatureAlgorithm algorithm)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(algorithm);
        if (signer.KeyKind != algorithm.KeyKind)
        {
            throw new ArgumentException(
                $"signature algorithm {algorithm.Name} needs a {algorithm.KeyKind} key, but the signer holds a {signer.KeyKind} key",
                nameof(algorithm));
        }
    }

    /// <summary>
    /// One signature: a running SHA-256 fed by <see cref="Stream"/>, signed once in
    /// <see cref="GetResult"/>. BouncyCastle never disposes calculators, so <see cref="GetResult"/>
    /// releases the hash itself; <see cref="Dispose"/> is for callers that abandon one.
    /// </summary>
    private sealed class DigestThenSignCalculator : IStreamCalculator<IBlockResult>, IDisposable
    {
        private readonly ISigner _signer;
        private readonly SignatureAlgorithm _algorithm;
        private readonly IncrementalHash _hash;
        private readonly HashingStream _stream;
        private bool _completed;

        public DigestThenSignCalculator(ISigner signer, SignatureAlgorithm algorithm)
        {
            _signer = signer;
            _algorithm = algorithm;
            _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            _stream = new HashingStream(_hash);
        }

        public Stream Stream => _stream;

        public IBlockResult GetResult()
        {
            // A calculator signs exactly one structure; a second call would sign an empty digest.
            ObjectDisposedException.ThrowIf(_completed, this);
            _completed = true;
            _stream.Complete();
            Span<byte> digest = stackalloc byte[SignatureAlgorithm.DigestLength];
            _hash.GetHashAndReset(digest);
            _hash.Dispose();
            return new SimpleBlockResult(_signer.SignDigest(_algorithm, digest));
        }

        public void Dispose()
        {
            _completed = true;
            _stream.Dispose();
            _hash.Dispose();
        }
    }

    /// <summary>
    /// A write-only stream that hashes and forgets. Generators dispose the stream before asking for
    /// the result, so disposing it must not end the hash; <see cref="Complete"/> does.
    /// </summary>
    private sealed class HashingStream(IncrementalHash hash) : Stream
    {
        private bool _completed;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => !_completed;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public void Complete() => _completed = true;

        public override void Write(byte[] buffer, int offset, int count)
        {
            ValidateBufferArguments(buffer, offset, count);
            Write(buffer.AsSpan(offset, count));
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            ObjectDisposedException.ThrowIf(_completed, this);
            hash.AppendData(buffer);
        }

        // Stream.WriteByte allocates a one-byte array per call; DER encoders write every tag and
        // length byte this way, so hash the byte from the stack instead.
        public override void WriteByte(byte value)
        {
            ReadOnlySpan<byte> one = [value];
            Write(one);
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
