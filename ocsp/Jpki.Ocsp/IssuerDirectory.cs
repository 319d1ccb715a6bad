using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Jpki.Core.Issuers;
using Jpki.Core.Store;
using Jpki.Hsm;
using Microsoft.Extensions.Logging;

namespace Jpki.Ocsp;

/// <summary>An issuer key this responder answers for, and the delegated responder that signs for it.</summary>
public sealed class ServedIssuer
{
    public required string IssuerKeyId { get; init; }

    public required string ResponderSerial { get; init; }

    public required ISigner ResponderSigner { get; init; }

    public required SignatureAlgorithm Algorithm { get; init; }

    public required byte[] ResponderCertificateDer { get; init; }

    /// <summary>ResponderID byKey: SHA-1 of the responder key's subjectPublicKey BIT STRING contents (RFC 6960 §4.2.1).</summary>
    public required byte[] ResponderKeyHash { get; init; }

    /// <summary>No answer may claim validity past this (the responder certificate's notAfter).</summary>
    public required DateTimeOffset ResponderNotAfter { get; init; }
}

/// <summary>
/// Finds the issuer key a CertID names, by issuerNameHash and issuerKeyHash in the CertID's own
/// hash algorithm (SHA-1, SHA-256, SHA-384, SHA-512), the key hash taken over the subjectPublicKey
/// BIT STRING contents, not the whole SPKI (RFC 6960 §4.1.1). One directory serves every issuer
/// key of the install; keys marked compromised or retired, generations past their last end-entity
/// certificate (docs/rollover.md, end of a generation), and keys without a good responder
/// certificate are not served (their CertIDs get 'unauthorized'). <see cref="Reload"/> picks up
/// renewed responder certificates and ended generations without a restart.
/// </summary>
public sealed class IssuerDirectory : IDisposable
{
    private static readonly (string Oid, HashAlgorithmName Name)[] HashAlgorithms =
    [
        ("1.3.14.3.2.26", HashAlgorithmName.SHA1),
        ("2.16.840.1.101.3.4.2.1", HashAlgorithmName.SHA256),
        ("2.16.840.1.101.3.4.2.2", HashAlgorithmName.SHA384),
        ("2.16.840.1.101.3.4.2.3", HashAlgorithmName.SHA512),
    ];

    private readonly Database database;
    private readonly SessionPool pool;
    private readonly SignatureCounter counter;
    private readonly ILogger logger;
    private readonly Lock reloadLock = new();
    private readonly List<Pkcs11Signer> signers = [];
    private readonly Dictionary<string, Pkcs11Signer> signersByLabel = new(StringComparer.Ordinal);
    private volatile Dictionary<string, ServedIssuer> byCertIdHashes = new(StringComparer.Ordinal);
    private volatile HashSet<string> servedKeyIds = new(StringComparer.Ordinal);
    private volatile HashSet<string> servedResponderSerials = new(StringComparer.Ordinal);

    public IssuerDirectory(Database database, SessionPool pool, SignatureCounter counter, ILogger logger)
    {
        this.database = database;
        this.pool = pool;
        this.counter = counter;
        this.logger = logger;
        Reload();
    }

    public int Count => byCertIdHashes.Values.Distinct().Count();

    /// <summary>The served issuer key the CertID names, or null (not ours, or not served).</summary>
    public ServedIssuer? Find(CertId certId)
    {
        ArgumentNullException.ThrowIfNull(certId);
        return byCertIdHashes.GetValueOrDefault(Key(certId.HashAlgorithmOid, certId.IssuerNameHash, certId.IssuerKeyHash));
    }

    /// <summary>
    /// Whether the issuer key is served now: the cache's hot path asks this instead of <see cref="Find"/>
    /// (a CertID's issuer hashes name one key, so a cached answer's key stands for its CertID).
    /// </summary>
    public bool Serves(string issuerKeyId) => servedKeyIds.Contains(issuerKeyId);

    /// <summary>Whether this serial is a responder certificate that signs answers now (its revocation calls for a <see cref="Reload"/> at once).</summary>
    public bool SignsWith(string responderSerial) => servedResponderSerials.Contains(responderSerial);

    /// <summary>Re-reads issuer keys and responder certificates; a renewed responder replaces the old one at once.</summary>
    public void Reload()
    {
        lock (reloadLock)
        {
            using var db = database.OpenConnection();
            var map = new Dictionary<string, ServedIssuer>(StringComparer.Ordinal);
            var finished = IssuerStore.KeysPastLastCertificate(db, Instant.NowMicros(database.Time)).ToHashSet(StringComparer.Ordinal);
            foreach (var key in OcspStore.ListIssuerKeys(db))
            {
                // A generation past its last end-entity certificate is answered like an issuer the
                // responder does not serve ('unauthorized'); a retired one has no keys left.
                if (key.State is "compromised" or "retired" || finished.Contains(key.Id) || key.ResponderKeyLabel is null || key.ResponderCertificateDer is null)
                {
                    continue;
                }

                var served = Open(key);
                if (served is null)
                {
                    continue;
                }

                using var issuer = X509CertificateLoader.LoadCertificate(key.CertificateDer);
                var keyBits = issuer.PublicKey.EncodedKeyValue.RawData;
                var name = issuer.SubjectName.RawData;
                foreach (var (oid, hash) in HashAlgorithms)
                {
                    map[Key(oid, Hash(hash, name), Hash(hash, keyBits))] = served;
                }
            }

            byCertIdHashes = map;
            servedKeyIds = map.Values.Select(i => i.IssuerKeyId).ToHashSet(StringComparer.Ordinal);
            servedResponderSerials = map.Values.Select(i => i.ResponderSerial).ToHashSet(StringComparer.Ordinal);
        }
    }

    private ServedIssuer? Open(ServedIssuerKey key)
    {
        if (!signersByLabel.TryGetValue(key.ResponderKeyLabel!, out var signer))
        {
            try
            {
                signer = Pkcs11Signer.Open(pool, key.ResponderKeyLabel!);
            }
            catch (HsmException e)
            {
                logger.LogError(e, "issuer key {IssuerKeyId}: responder key {Label} cannot be opened; its CertIDs get 'unauthorized' until it can", key.Id, key.ResponderKeyLabel);
                return null;
            }

            // Kept for the life of the process: an answer being signed may still hold a replaced one.
            signers.Add(signer);
            signersByLabel[key.ResponderKeyLabel!] = signer;
        }

        using var responder = X509CertificateLoader.LoadCertificate(key.ResponderCertificateDer!);
        return new ServedIssuer
        {
            IssuerKeyId = key.Id,
            ResponderSerial = key.ResponderSerial!,
            ResponderSigner = new CountingSigner(signer, counter),
            Algorithm = SignatureAlgorithm.DefaultFor(signer.KeyKind),
            ResponderCertificateDer = key.ResponderCertificateDer!,
#pragma warning disable CA5350 // RFC 6960 §4.2.1 defines ResponderID byKey as the SHA-1 of the key: an identifier, not a signature.
            ResponderKeyHash = SHA1.HashData(responder.PublicKey.EncodedKeyValue.RawData),
#pragma warning restore CA5350
            ResponderNotAfter = new DateTimeOffset(responder.NotAfter.ToUniversalTime(), TimeSpan.Zero),
        };
    }

#pragma warning disable CA5350 // Verifiers name issuers by SHA-1 CertIDs (RFC 5019 §2.1.1 requires SHA-1); a lookup key, not a signature.
    private static byte[] Hash(HashAlgorithmName name, byte[] data) =>
        name == HashAlgorithmName.SHA1 ? SHA1.HashData(data)
        : name == HashAlgorithmName.SHA256 ? SHA256.HashData(data)
        : name == HashAlgorithmName.SHA384 ? SHA384.HashData(data)
        : SHA512.HashData(data);
#pragma warning restore CA5350

    private static string Key(string oid, byte[] nameHash, byte[] keyHash) =>
        oid + ":" + Convert.ToHexString(nameHash) + ":" + Convert.ToHexString(keyHash);

    public void Dispose()
    {
        lock (reloadLock)
        {
            foreach (var signer in signers)
            {
                signer.Dispose();
            }

            signers.Clear();
        }
    }
}

/// <summary>How many signatures the responder has made (tests and the benchmark read it: a cache hit must not add one).</summary>
public sealed class SignatureCounter
{
    private long count;

    public long Count => Interlocked.Read(ref count);

    public void Increment() => Interlocked.Increment(ref count);
}

/// <summary>An <see cref="ISigner"/> that counts what it signs.</summary>
public sealed class CountingSigner(ISigner inner, SignatureCounter counter) : ISigner
{
    public byte[] SubjectPublicKeyInfo => inner.SubjectPublicKeyInfo;

    public KeyKind KeyKind => inner.KeyKind;

    public byte[] Sign(SignatureAlgorithm algorithm, ReadOnlySpan<byte> data)
    {
        counter.Increment();
        return inner.Sign(algorithm, data);
    }

    public byte[] SignDigest(SignatureAlgorithm algorithm, ReadOnlySpan<byte> digest)
    {
        counter.Increment();
        return inner.SignDigest(algorithm, digest);
    }
}
