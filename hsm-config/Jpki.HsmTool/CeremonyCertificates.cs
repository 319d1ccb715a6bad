using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Configuration;
using Jpki.Core.Issuers;
using Jpki.Core.Profiles;
using Jpki.Core.Signatures;
using Jpki.Core.Store;
using Jpki.Hsm;
using Org.BouncyCastle.X509;

namespace Jpki.HsmTool;

/// <summary>
/// The certificates the key ceremony signs — the audit-checkpoint key's, each issuer key's root and
/// its first OCSP responder certificate — each with its signature intent committed before the key
/// signs (<see cref="SignatureLedger.SignIntended"/>), then stored with its audit record and the
/// intent's completion in one transaction; a certificate a concurrent run stored first is
/// discarded ('signature.discarded', superseded-concurrently) and that run's is used.
/// </summary>
internal sealed class CeremonyCertificates(JpkiSettings settings, Database database, AuditLog audit, string actor)
{
    private readonly SignatureLedger ledger = new(audit);

    /// <summary>
    /// Signs and records the checkpoint key's self-signed certificate; false when it was already
    /// recorded. A handover (decision 0421) records key number 2, 3… and hands over to it in
    /// <paramref name="alsoInTransaction"/>, the transaction that records it.
    /// </summary>
    public bool IssueCheckpointCertificate(ISigner signer, string keyId, int keyNumber = 1, Action<WriteTransaction>? alsoInTransaction = null)
    {
        var now = database.Time.GetUtcNow();
        var serial = SerialNumbers.New();
        var serialHex = SerialNumbers.ToHex(serial);
        var (der, intent) = ledger.SignIntended(
            database,
            signer,
            tbs => Intent(serialHex, "audit-checkpoint", keyId, tbs, now.AddYears(10).AddDays(1)),
            intending => new CheckpointCertificateBuilder(intending, SignatureAlgorithm.EcdsaSha256).Build(new CheckpointCertificateRequest
            {
                InstallName = settings.InstallName,
                KeyNumber = keyNumber,
                SerialNumber = serial,
                IssuedAt = now,
            }));
        using var tx = database.BeginWrite();
        if (IssuerStore.FindInstallKey(tx.Connection, keyId, tx.Transaction) is not null)
        {
            ledger.Discard(tx, intent, DiscardReasons.SupersededConcurrently, "another ceremony run recorded the checkpoint key first");
            tx.Commit();
            return false;
        }

        SignatureLedger.Certified(tx, intent);
        IssuerStore.InsertInstallKey(tx, new InstallKeyRow
        {
            Id = keyId,
            Purpose = "audit-checkpoint",
            HsmKeyLabel = keyId,
            CertificateDer = der,
            CreatedUs = Instant.ToMicros(now),
        });
        audit.Append(tx, new AuditRecord(actor, AuditLog.CheckpointKeyCreatedAction, keyId, new JsonObject
        {
            ["hsmKeyLabel"] = keyId,
            ["serial"] = serialHex,
            ["certificateSha256"] = Convert.ToHexStringLower(SHA256.HashData(der)),
            ["publicKeyId"] = AuditCheckpoint.KeyIdOf(signer.SubjectPublicKeyInfo),
        }));
        alsoInTransaction?.Invoke(tx);
        tx.Commit();
        return true;
    }

    /// <summary>
    /// Signs and records the self-signed root of <paramref name="keyId"/> (and its issuer); returns
    /// the root stored, and its serial when it is this call's. Generation 1 (the first ceremony)
    /// is published and issues at once; a later generation (a rollover) waits for its publication
    /// and switch, and <paramref name="alsoInTransaction"/> records the rollover's step with it.
    /// </summary>
    public (byte[] Der, string? Serial) IssueRoot(ISigner issuerSigner, PrefectureSettings prefecture, IssuerKind kind, string issuerId, string keyId, int generation = 1, Action<WriteTransaction>? alsoInTransaction = null)
    {
        var now = database.Time.GetUtcNow();
        var serial = SerialNumbers.New();
        var serialHex = SerialNumbers.ToHex(serial);
        var (rootDer, intent) = ledger.SignIntended(
            database,
            issuerSigner,
            tbs => Intent(serialHex, "root", keyId, tbs, now.AddYears(settings.Ceremony.RootValidityYears).AddDays(1)),
            intending => new RootCertificateBuilder(intending, SignatureAlgorithm.RsaPkcs1Sha256).Build(new RootCertificateRequest
            {
                Kind = kind,
                Prefecture = prefecture.ToPrefecture(),
                SerialNumber = serial,
                IssuedAt = now,
                ArlUrl = settings.Urls.ArlUrl(keyId),
                ValidityYears = settings.Ceremony.RootValidityYears,
            }));
        using var tx = database.BeginWrite();
        if (IssuerStore.FindKey(tx.Connection, keyId, tx.Transaction)?.CertificateDer is { } existing)
        {
            ledger.Discard(tx, intent, DiscardReasons.SupersededConcurrently, "another ceremony run stored this issuer key's root first");
            tx.Commit();
            return (existing, null);
        }

        SignatureLedger.Certified(tx, intent);
        StoreRoot(tx, rootDer, serialHex, prefecture, kind, issuerId, keyId, generation, now);
        alsoInTransaction?.Invoke(tx);
        tx.Commit();
        return (rootDer, serialHex);
    }

    /// <summary>Signs and records the first OCSP responder certificate of <paramref name="keyId"/>; the serial, or null when a concurrent run stored one first.</summary>
    public string? IssueResponder(ISigner issuerSigner, ISigner responderSigner, byte[] rootDer, string keyId, string label, Action<WriteTransaction>? alsoInTransaction = null)
    {
        var now = database.Time.GetUtcNow();
        var serial = SerialNumbers.New();
        var serialHex = SerialNumbers.ToHex(serial);
        var validity = TimeSpan.FromDays(settings.Ceremony.ResponderValidityDays);
        var (der, intent) = ledger.SignIntended(
            database,
            issuerSigner,
            tbs => Intent(serialHex, "ocsp-responder", keyId, tbs, now + validity),
            intending => new ResponderCertificateBuilder(rootDer, intending, SignatureAlgorithm.RsaPkcs1Sha256).Build(new ResponderCertificateRequest
            {
                ResponderPublicKey = responderSigner.SubjectPublicKeyInfo,
                SerialNumber = serial,
                IssuedAt = now,
                Generation = 1,
                Validity = validity,
            }));
        using var tx = database.BeginWrite();
        if (IssuerStore.FindCurrentResponder(tx.Connection, keyId, tx.Transaction) is not null)
        {
            ledger.Discard(tx, intent, DiscardReasons.SupersededConcurrently, "another ceremony run stored this issuer key's responder first");
            tx.Commit();
            return null;
        }

        SignatureLedger.Certified(tx, intent);
        var certificate = new X509Certificate(der);
        var notBefore = Instant.ToMicros(new DateTimeOffset(certificate.NotBefore, TimeSpan.Zero));
        var notAfter = Instant.ToMicros(new DateTimeOffset(certificate.NotAfter, TimeSpan.Zero));
        IssuerStore.InsertCertificate(tx, new IssuedCertificate(serialHex, keyId, "ocsp-responder", notBefore, notAfter, der, Instant.ToMicros(now)));
        IssuerStore.InsertResponder(tx, serialHex, keyId, label, notAfter, Instant.ToMicros(now));
        audit.Append(tx, new AuditRecord(actor, "ceremony.ocsp-responder.issued", keyId, new JsonObject
        {
            ["serial"] = serialHex,
            ["hsmKeyLabel"] = label,
            ["notAfterUs"] = notAfter,
            ["certificateSha256"] = Convert.ToHexStringLower(SHA256.HashData(der)),
        }));
        alsoInTransaction?.Invoke(tx);
        tx.Commit();
        return serialHex;
    }

    /// <summary>
    /// Signs and records a link certificate (docs/jpki-profile.md §10) with <paramref name="signer"/>,
    /// the key of <paramref name="signerKey"/>, certifying <paramref name="subjectKey"/>'s public
    /// key; returns its serial, or null when one was stored first (by a concurrent or earlier run).
    /// </summary>
    public string? IssueLink(ISigner signer, IssuerKeyRow signerKey, IssuerKeyRow subjectKey, LinkDirection direction, PrefectureSettings prefecture, IssuerKind kind)
    {
        var now = database.Time.GetUtcNow();
        var serial = SerialNumbers.New();
        var serialHex = SerialNumbers.ToHex(serial);
        var directionText = direction == LinkDirection.NewWithOld ? LinkCertificateRow.NewWithOld : LinkCertificateRow.OldWithNew;
        var (der, intent) = ledger.SignIntended(
            database,
            signer,
            tbs => Intent(serialHex, "root", signerKey.Id, tbs, Instant.FromMicros(Math.Min(signerKey.NotAfterUs, subjectKey.NotAfterUs))),
            intending => new LinkCertificateBuilder(signerKey.CertificateDer!, intending, SignatureAlgorithm.RsaPkcs1Sha256).Build(new LinkCertificateRequest
            {
                Direction = direction,
                Kind = kind,
                Prefecture = prefecture.ToPrefecture(),
                SubjectRoot = subjectKey.CertificateDer!,
                SerialNumber = serial,
                ArlUrl = settings.Urls.ArlUrl(signerKey.Id),
            }));
        using var tx = database.BeginWrite();
        if (IssuerStore.FindLink(tx.Connection, signerKey.Id, subjectKey.Id, tx.Transaction) is not null)
        {
            ledger.Discard(tx, intent, DiscardReasons.SupersededConcurrently, "another rollover run stored this link certificate first");
            tx.Commit();
            return null;
        }

        SignatureLedger.Certified(tx, intent);
        var certificate = new X509Certificate(der);
        var notBefore = Instant.ToMicros(new DateTimeOffset(certificate.NotBefore, TimeSpan.Zero));
        var notAfter = Instant.ToMicros(new DateTimeOffset(certificate.NotAfter, TimeSpan.Zero));
        IssuerStore.InsertLink(tx, new IssuedCertificate(serialHex, signerKey.Id, "root", notBefore, notAfter, der, Instant.ToMicros(now)), signerKey.IssuerId, directionText, subjectKey.Id);
        audit.Append(tx, new AuditRecord(actor, "rollover.link.issued", signerKey.IssuerId, new JsonObject
        {
            ["direction"] = directionText,
            ["serial"] = serialHex,
            ["signerKeyId"] = signerKey.Id,
            ["subjectKeyId"] = subjectKey.Id,
            ["notBeforeUs"] = notBefore,
            ["notAfterUs"] = notAfter,
            ["certificateSha256"] = Convert.ToHexStringLower(SHA256.HashData(der)),
        }));
        tx.Commit();
        return serialHex;
    }

    private void StoreRoot(WriteTransaction tx, byte[] rootDer, string serialHex, PrefectureSettings prefecture, IssuerKind kind, string issuerId, string keyId, int generation, DateTimeOffset now)
    {
        var certificate = new X509Certificate(rootDer);
        if (IssuerStore.FindIssuer(tx.Connection, issuerId, tx.Transaction) is null)
        {
            IssuerStore.InsertIssuer(tx, new IssuerRow
            {
                Id = issuerId,
                Prefecture = prefecture.Name,
                Kind = kind == IssuerKind.Signing ? "signing" : "authentication",
                SubjectDn = certificate.SubjectDN.ToString(),
                CreatedUs = Instant.ToMicros(now),
            });
        }

        var notBefore = Instant.ToMicros(new DateTimeOffset(certificate.NotBefore, TimeSpan.Zero));
        var notAfter = Instant.ToMicros(new DateTimeOffset(certificate.NotAfter, TimeSpan.Zero));
        IssuerStore.InsertKey(tx, new IssuerKeyRow
        {
            Id = keyId,
            IssuerId = issuerId,
            Generation = generation,
            HsmKeyLabel = keyId,
            CertificateDer = rootDer,
            NotBeforeUs = notBefore,
            NotAfterUs = notAfter,
            CreatedUs = Instant.ToMicros(now),

            // The first generation is published by the ceremony that makes it and issues at once;
            // a rollover's waits for its publication step and its switch time.
            IssuesFromUs = generation == 1 ? notBefore : null,
            PublishedUs = generation == 1 ? Instant.ToMicros(now) : null,
        });
        IssuerStore.InsertCertificate(tx, new IssuedCertificate(serialHex, keyId, "root", notBefore, notAfter, rootDer, Instant.ToMicros(now)));
        audit.Append(tx, new AuditRecord(actor, "ceremony.root.issued", keyId, new JsonObject
        {
            ["issuerId"] = issuerId,
            ["generation"] = generation,
            ["serial"] = serialHex,
            ["subject"] = certificate.SubjectDN.ToString(),
            ["notAfterUs"] = notAfter,
            ["certificateSha256"] = Convert.ToHexStringLower(SHA256.HashData(rootDer)),
        }));
    }

    private SignatureIntent Intent(string serialHex, string purpose, string keyId, byte[] tbsSha256, DateTimeOffset notAfterAtMost) =>
        new(serialHex, purpose, keyId, Convert.ToHexStringLower(tbsSha256), Instant.ToMicros(notAfterAtMost), actor);
}
