using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Jpki.Hsm;

namespace Jpki.Core.Signatures;

/// <summary>
/// Accounts for every certificate signature: <see cref="Intend"/> before the HSM is asked (an
/// intent row and its 'signature.intended' audit record, one transaction), then, after signing,
/// <see cref="Certified"/> in the transaction that stores the certificate, or
/// <see cref="Discard"/> (the intent closed and a 'signature.discarded' record with the reason,
/// one transaction) when the signed certificate is dropped. <c>./jpki audit signatures</c>
/// (<see cref="SignatureAccountingCheck"/>) reports an intent with neither.
/// </summary>
public sealed class SignatureLedger(AuditLog audit)
{
    public const string IntendedAction = "signature.intended";

    public const string DiscardedAction = "signature.discarded";

    /// <summary>Writes the intent and its audit record in <paramref name="tx"/>; commit it before signing.</summary>
    public void Intend(WriteTransaction tx, SignatureIntent intent)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(intent);
        var entry = audit.Append(tx, new AuditRecord(intent.Actor, IntendedAction, intent.Serial, Details(intent)));
        SignatureIntentStore.Insert(tx, intent, Instant.ToMicros(entry.Time), entry.Seq);
    }

    /// <summary><see cref="Intend"/> in a write transaction of its own, committed when this returns.</summary>
    public void IntendInOwnTransaction(Database database, SignatureIntent intent)
    {
        ArgumentNullException.ThrowIfNull(database);
        using var tx = database.BeginWrite();
        Intend(tx, intent);
        tx.Commit();
    }

    /// <summary>
    /// Completes the intent in the transaction that stores its certificate (whose row, with the
    /// same serial and TBS, is the completion's evidence).
    /// </summary>
    /// <exception cref="InvalidOperationException">The intent is not open: nothing may commit.</exception>
    public static void Certified(WriteTransaction tx, SignatureIntent intent)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(intent);
        if (!SignatureIntentStore.Complete(tx, intent.Serial, "certified", null, Instant.NowMicros(tx.Time)))
        {
            throw new InvalidOperationException($"the signature intent of certificate {intent.Serial} is not open; its certificate is not stored");
        }
    }

    /// <summary>
    /// Closes the intent as discarded and appends the 'signature.discarded' record in
    /// <paramref name="tx"/>; false (and nothing written) when the intent is not open.
    /// </summary>
    /// <param name="reason">One of <see cref="DiscardReasons"/>.</param>
    /// <param name="detail">What the reason does not say (a problem type, an exception type); optional.</param>
    public bool Discard(WriteTransaction tx, SignatureIntent intent, string reason, string? detail = null)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(intent);
        ArgumentException.ThrowIfNullOrEmpty(reason);
        if (!SignatureIntentStore.Complete(tx, intent.Serial, "discarded", reason, Instant.NowMicros(tx.Time)))
        {
            return false;
        }

        var details = Details(intent);
        details["reason"] = reason;
        if (detail is not null)
        {
            details["detail"] = detail;
        }

        audit.Append(tx, new AuditRecord(intent.Actor, DiscardedAction, intent.Serial, details));
        return true;
    }

    /// <summary>
    /// <see cref="Discard"/> in a transaction of its own, after the transaction that was to store
    /// the certificate failed (or none was begun). Never throws: the failure being handled is the
    /// one that matters, and an intent left open is reported by <c>audit signatures</c> anyway.
    /// </summary>
    public async Task<bool> DiscardInOwnTransactionAsync(Database database, SignatureIntent intent, string reason, string? detail = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        try
        {
            using var tx = await database.BeginWriteAsync(CancellationToken.None);
            var discarded = Discard(tx, intent, reason, detail);
            await tx.CommitAsync(CancellationToken.None);
            return discarded;
        }
#pragma warning disable CA1031 // Best effort while another failure is handled; the open intent is what audit signatures reports.
        catch (Exception)
#pragma warning restore CA1031
        {
            return false;
        }
    }

    /// <summary>The synchronous <see cref="DiscardInOwnTransactionAsync"/>, for the ceremony and the responder renewal.</summary>
    public bool DiscardInOwnTransaction(Database database, SignatureIntent intent, string reason, string? detail = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        try
        {
            using var tx = database.BeginWrite();
            var discarded = Discard(tx, intent, reason, detail);
            tx.Commit();
            return discarded;
        }
#pragma warning disable CA1031 // As above: best effort while another failure is handled.
        catch (Exception)
#pragma warning restore CA1031
        {
            return false;
        }
    }

    /// <summary>
    /// Runs <paramref name="build"/> (a BouncyCastle certificate builder) with a signer that first
    /// records the intent <paramref name="intentFor"/> makes from the TBS's SHA-256, in a write
    /// transaction of its own (so no write transaction may be open around this call). A failure
    /// after the intent was recorded is discarded (hsm-error or build-failed) before it propagates.
    /// The caller completes the returned intent with <see cref="Certified"/> or <see cref="Discard"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException"><paramref name="build"/> signed nothing.</exception>
    public (T Result, SignatureIntent Intent) SignIntended<T>(Database database, ISigner signer, Func<byte[], SignatureIntent> intentFor, Func<ISigner, T> build)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(intentFor);
        ArgumentNullException.ThrowIfNull(build);
        SignatureIntent? intent = null;
        var intending = new IntendingSigner(signer, tbsSha256 =>
        {
            var made = intentFor(tbsSha256);
            IntendInOwnTransaction(database, made);
            intent = made;
        });
        T result;
        try
        {
            result = build(intending);
        }
        catch (Exception e) when (intent is not null)
        {
            DiscardInOwnTransaction(database, intent, e is HsmException ? DiscardReasons.HsmError : DiscardReasons.BuildFailed, e.GetType().Name);
            throw;
        }

        return (result, intent ?? throw new InvalidOperationException("the certificate builder signed nothing"));
    }

    private static JsonObject Details(SignatureIntent intent) => new()
    {
        ["serial"] = intent.Serial,
        ["purpose"] = intent.Purpose,
        ["issuerKeyId"] = intent.IssuerKeyId,
        ["tbsSha256"] = intent.TbsSha256,
        ["notAfterUs"] = intent.NotAfterUs,
    };
}

/// <summary>Why a signed (or possibly signed) certificate was dropped: the <c>reason</c> of a 'signature.discarded' record.</summary>
public static class DiscardReasons
{
    /// <summary>Another request certified the same public key while this one was signed.</summary>
    public const string DuplicateKey = "duplicate-key";

    /// <summary>An officer stopped issuance while this one was signed.</summary>
    public const string IssuanceStopped = "issuance-stopped";

    /// <summary>The issuer key was retired or declared compromised while this one was signed.</summary>
    public const string IssuerKeyNotActive = "issuer-key-not-active";

    /// <summary>The certificate to renew was revoked (or expired, or gone) while this one was signed.</summary>
    public const string RenewedCertificateUnusable = "renewed-certificate-unusable";

    /// <summary>A concurrent retry with the same Idempotency-Key stored its answer first; that answer is replayed.</summary>
    public const string IdempotentReplay = "idempotent-replay";

    /// <summary>The HSM failed during or after the signature: whether it signed is unknown.</summary>
    public const string HsmError = "hsm-error";

    /// <summary>The signed certificate was not what was linted (other TBS bytes, or a signature that does not verify).</summary>
    public const string IntegrityFailed = "integrity-failed";

    /// <summary>Storing the signed certificate failed (store error, or the request was aborted); detail names the exception.</summary>
    public const string StoreFailed = "store-failed";

    /// <summary>The certificate builder failed after the key was asked (not an HSM error); detail names the exception.</summary>
    public const string BuildFailed = "build-failed";

    /// <summary>Another process made the certificate this one was signed for (a concurrent renewal, a second ceremony run).</summary>
    public const string SupersededConcurrently = "superseded-concurrently";

    /// <summary>
    /// Still open long after it was written: the process that signed ended (crash, kill -9, power
    /// cut) before the certificate was stored, so it never answered with it (closed by <see cref="AbandonedIntents"/>).
    /// </summary>
    public const string Abandoned = "abandoned";
}
