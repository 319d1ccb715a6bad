using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Dapper;
using Jpki.Core.Audit;
using Jpki.Core.Profiles;
using Jpki.Core.Signatures;
using Jpki.Core.Store;
using Jpki.Hsm;
using Org.BouncyCastle.X509;

namespace Jpki.Core.Issuers;

/// <summary>
/// Renews an issuer key's delegated OCSP responder certificate once it is <c>renewAfter</c> old
/// (60 of its 90 days, docs/jpki-profile.md §8), so that a fresh one is in the store a month before
/// the old one expires: a new responder key in the HSM (<c>{issuerKeyId}-ocsp-{n}</c>, sign-only,
/// never extractable, like the ceremony's) and a certificate from the issuer key, recorded with
/// its status change and an audit record in one transaction. The issuer key signs only after the
/// signature intent is committed; a certificate a concurrent renewal made unnecessary is discarded
/// with a 'signature.discarded' record. The old certificate stays valid
/// until its notAfter; OCSP responders take the newest good one when they next re-read the store.
/// A generation past its last end-entity certificate is not renewed (its responder stops).
/// </summary>
public sealed class ResponderRenewal(Database database, HsmToken token, SessionPool pool, AuditLog audit, CeremonySettingsView settings)
{
    public const string Actor = "system/responder-renewal";

    private readonly SignatureLedger ledger = new(audit);

    /// <summary>Whether a responder certificate valid from <paramref name="notBefore"/> is due for renewal at <paramref name="now"/>.</summary>
    public bool IsDue(DateTimeOffset notBefore, DateTimeOffset now) => now >= notBefore + settings.RenewAfter;

    /// <summary>Renews the responder of <paramref name="issuerKeyId"/> if it is due (or missing); returns the new certificate's serial, or null.</summary>
    /// <param name="issuerCertificate">The issuer key's certificate (DER).</param>
    /// <param name="issuerSigner">The issuer key, which signs the responder certificate.</param>
    public string? RenewIfDue(string issuerKeyId, byte[] issuerCertificate, ISigner issuerSigner)
    {
        ArgumentException.ThrowIfNullOrEmpty(issuerKeyId);
        var now = database.Time.GetUtcNow();
        if (!TryDue(issuerKeyId, now, out var current, out var generation))
        {
            return null;
        }

        return Issue(new Renewing(issuerKeyId, issuerCertificate, issuerSigner, current, generation, Actor, null), now);
    }

    /// <summary>
    /// A new responder key and certificate at once, whatever the current one's age: the responder
    /// key compromise (<c>./jpki hsm responder-compromise</c>). <paramref name="inTransaction"/>
    /// runs in the transaction that records the new certificate (the caller revokes the compromised
    /// one there, so no reader sees both good nor neither), after the check that no concurrent
    /// renewal replaced <paramref name="compromised"/> meanwhile (then nothing is recorded and the
    /// result is null: the caller runs again against the new current responder).
    /// </summary>
    public string? ReplaceNow(string issuerKeyId, byte[] issuerCertificate, ISigner issuerSigner, ResponderRow compromised, string actor, Action<WriteTransaction, string> inTransaction)
    {
        ArgumentException.ThrowIfNullOrEmpty(issuerKeyId);
        ArgumentNullException.ThrowIfNull(compromised);
        var now = database.Time.GetUtcNow();
        int generation;
        using (var db = database.OpenConnection())
        {
            generation = NextGeneration(db, issuerKeyId);
        }

        return Issue(new Renewing(issuerKeyId, issuerCertificate, issuerSigner, compromised, generation, actor, inTransaction), now);
    }

    /// <summary>What one renewal works with: the responder it replaces (null: none yet) and what else commits with it.</summary>
    private sealed record Renewing(string IssuerKeyId, byte[] IssuerCertificate, ISigner IssuerSigner, ResponderRow? Current, int Generation, string Actor, Action<WriteTransaction, string>? InTransaction);

    private string? Issue(Renewing renewing, DateTimeOffset now)
    {
        var issuerKeyId = renewing.IssuerKeyId;
        var label = EnsureResponderKey(issuerKeyId, renewing.Generation);
        using var responderSigner = Pkcs11Signer.Open(pool, label);
        var serial = SerialNumbers.New();
        var serialHex = SerialNumbers.ToHex(serial);

        // The intent (serial, issuer key, TBS hash) is committed before the issuer key signs.
        var (der, intent) = ledger.SignIntended(
            database,
            renewing.IssuerSigner,
            tbsSha256 => new SignatureIntent(serialHex, "ocsp-responder", issuerKeyId, Convert.ToHexStringLower(tbsSha256), Instant.ToMicros(now + settings.Validity), renewing.Actor),
            signer => new ResponderCertificateBuilder(renewing.IssuerCertificate, signer, SignatureAlgorithm.RsaPkcs1Sha256).Build(new ResponderCertificateRequest
            {
                ResponderPublicKey = responderSigner.SubjectPublicKeyInfo,
                SerialNumber = serial,
                IssuedAt = now,
                Generation = renewing.Generation,
                Validity = settings.Validity,
            }));
        var certificate = new X509Certificate(der);
        var notBefore = Instant.ToMicros(new DateTimeOffset(certificate.NotBefore, TimeSpan.Zero));
        var notAfter = Instant.ToMicros(new DateTimeOffset(certificate.NotAfter, TimeSpan.Zero));

        using var tx = database.BeginWrite();

        // Another CA instance may have renewed meanwhile: then this one's certificate is not needed.
        if (IssuerStore.FindCurrentResponder(tx.Connection, issuerKeyId, tx.Transaction)?.Serial != renewing.Current?.Serial)
        {
            ledger.Discard(tx, intent, DiscardReasons.SupersededConcurrently, "another CA instance renewed this responder meanwhile");
            tx.Commit();
            return null;
        }

        SignatureLedger.Certified(tx, intent);
        IssuerStore.InsertCertificate(tx, new IssuedCertificate(serialHex, issuerKeyId, "ocsp-responder", notBefore, notAfter, der, Instant.ToMicros(now)));
        IssuerStore.InsertResponder(tx, serialHex, issuerKeyId, label, notAfter, Instant.ToMicros(now));
        audit.Append(tx, new AuditRecord(renewing.Actor, "ocsp-responder.renewed", issuerKeyId, new JsonObject
        {
            ["serial"] = serialHex,
            ["previousSerial"] = renewing.Current?.Serial,
            ["hsmKeyLabel"] = label,
            ["notAfterUs"] = notAfter,
            ["certificateSha256"] = Convert.ToHexStringLower(SHA256.HashData(der)),
        }));
        renewing.InTransaction?.Invoke(tx, serialHex);
        tx.Commit();
        return serialHex;
    }

    /// <summary>The responder key of this generation; one left by an attempt cut off before its commit is reused, as the ceremony does.</summary>
    private string EnsureResponderKey(string issuerKeyId, int generation)
    {
        var label = $"{issuerKeyId}-ocsp-{generation}";
        if (!token.HasKey(label))
        {
            token.GenerateKeyPair(settings.ResponderKeyKind, label, settings.RsaBits);
        }

        return label;
    }

    private bool TryDue(string issuerKeyId, DateTimeOffset now, out ResponderRow? current, out int generation)
    {
        using var db = database.OpenConnection();
        current = IssuerStore.FindCurrentResponder(db, issuerKeyId);
        generation = NextGeneration(db, issuerKeyId);
        // A generation past its last end-entity certificate answers no OCSP request any more
        // (docs/rollover.md, end of a generation): its responder certificate is left to expire.
        if (IssuerStore.IsPastLastCertificate(db, issuerKeyId, Instant.ToMicros(now)))
        {
            return false;
        }

        return current is null || IsDue(NotBefore(current.CertificateDer), now);
    }

    /// <summary>The number of the next responder key of this issuer key (1, 2, …): its HSM label and CN carry it.</summary>
    private static int NextGeneration(System.Data.Common.DbConnection db, string issuerKeyId) =>
        db.ExecuteScalar<int>("SELECT COUNT(*) FROM ocsp_responders WHERE issuer_key_id = @issuerKeyId", new { issuerKeyId }) + 1;

    private static DateTimeOffset NotBefore(byte[] certificateDer) =>
        new(new X509Certificate(certificateDer).NotBefore.ToUniversalTime(), TimeSpan.Zero);
}

/// <summary>What responder renewal takes from the <c>ceremony.*</c> settings.</summary>
public sealed record CeremonySettingsView(KeyKind ResponderKeyKind, int RsaBits, TimeSpan Validity, TimeSpan RenewAfter)
{
    public static CeremonySettingsView From(Configuration.CeremonySettings ceremony)
    {
        ArgumentNullException.ThrowIfNull(ceremony);
        return new(
            ceremony.ResponderKey == "p256" ? KeyKind.EcP256 : KeyKind.Rsa,
            ceremony.RsaBits,
            TimeSpan.FromDays(ceremony.ResponderValidityDays),
            TimeSpan.FromDays(ceremony.ResponderRenewAfterDays));
    }
}
