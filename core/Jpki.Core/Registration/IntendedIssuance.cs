using System.Globalization;
using System.Security.Cryptography;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Certificates;
using Jpki.Core.Issuance;
using Jpki.Core.Issuers;
using Jpki.Core.Profiles;
using Jpki.Core.Signatures;
using Jpki.Core.Store;
using Jpki.Hsm;
using IssuedCertificate = Jpki.Core.Issuance.IssuedCertificate;

namespace Jpki.Core.Registration;

/// <summary>A resident certificate's TBS, linted, with the intent recorded before it is signed.</summary>
public sealed record IntendedCertificate(PreparedCertificate Prepared, SignatureIntent Intent);

/// <summary>
/// The signature intents of resident certificates (issue 16, finding 5), for
/// <see cref="IssuanceService"/>: the TBS is built and linted and its intent recorded (intent
/// row and 'signature.intended' record) in one write transaction before the HSM is asked; for a
/// signing certificate that is the transaction that already allocated the day's issuance number
/// (the subject carries it), so the intent costs no extra write transaction there. After signing,
/// the transaction that stores the certificate completes the intent, and every way out that drops
/// the signed certificate writes a 'signature.discarded' record with its reason.
/// </summary>
public sealed class IntendedIssuance(Database database, AuditLog audit)
{
    private const string AuthenticationIdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    private readonly SignatureLedger ledger = new(audit);

    /// <summary>
    /// Builds, lints and records the intent of the certificate <paramref name="requestFor"/> makes
    /// from a subject id (for a signing certificate the issuance number of docs/jpki-profile.md, taken
    /// from the day's sequence in the same transaction; for an authentication certificate random).
    /// </summary>
    /// <exception cref="LintException">The TBS broke profile rules: nothing was recorded or signed.</exception>
    public async Task<IntendedCertificate> IntendAsync(Account account, ActiveIssuerKey issuerKey, IssuerKind kind, string windowId, string serialHex, DateTimeOffset notBefore, Func<string, EndEntityRequest> requestFor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(issuerKey);
        ArgumentNullException.ThrowIfNull(requestFor);
        PreparedCertificate? prepared = null;
        EndEntityRequest? request = null;
        if (kind == IssuerKind.Authentication)
        {
            // Nothing of the store goes into it: built and linted before the writers' lock is taken.
            request = requestFor(new string(RandomNumberGenerator.GetItems<char>(AuthenticationIdAlphabet, SubjectIds.AuthenticationIdLength)));
            prepared = CertificateIssuer.Prepare(request, issuerKey.Signer, issuerKey.PublicKey);
        }

        using var tx = await database.BeginWriteAsync(cancellationToken);
        if (prepared is null)
        {
            // A lint failure rolls the number back with the transaction; a failure after signing leaves a gap, never a reused number.
            request = requestFor(IssuanceId(tx, notBefore, windowId));
            prepared = CertificateIssuer.Prepare(request, issuerKey.Signer, issuerKey.PublicKey);
        }

        var intent = new SignatureIntent(
            serialHex,
            ProfilePolicy.KindName(kind),
            issuerKey.Key.Id,
            Convert.ToHexStringLower(prepared.TbsSha256),
            Instant.ToMicros(request!.Validity.NotAfter),
            account.Id);
        ledger.Intend(tx, intent);
        await tx.CommitAsync(cancellationToken);
        return new IntendedCertificate(prepared, intent);
    }

    /// <summary>Signs the intended TBS; a failure that may leave a signature behind is recorded as a discard first.</summary>
    /// <exception cref="IssuanceIntegrityException">The signed certificate is not what was linted.</exception>
    /// <exception cref="HsmException">The HSM failed.</exception>
    public async Task<IssuedCertificate> SignAsync(IntendedCertificate intended, ActiveIssuerKey issuerKey)
    {
        ArgumentNullException.ThrowIfNull(intended);
        ArgumentNullException.ThrowIfNull(issuerKey);
        try
        {
            return CertificateIssuer.Sign(intended.Prepared, issuerKey.Signer, issuerKey.PublicKey);
        }
        catch (IssuanceIntegrityException e)
        {
            await ledger.DiscardInOwnTransactionAsync(database, intended.Intent, DiscardReasons.IntegrityFailed, e.Message);
            throw;
        }
        catch (HsmException e)
        {
            await ledger.DiscardInOwnTransactionAsync(database, intended.Intent, DiscardReasons.HsmError, e.GetType().Name);
            throw;
        }
    }

    /// <summary>Completes the intent in the transaction that stores its certificate.</summary>
    public static void Certified(WriteTransaction tx, IntendedCertificate intended)
    {
        ArgumentNullException.ThrowIfNull(intended);
        SignatureLedger.Certified(tx, intended.Intent);
    }

    /// <summary>A re-check under the writers' lock failed: the discard is committed, and <paramref name="answer"/> is the answer.</summary>
    public async Task<T> DiscardAsync<T>(WriteTransaction tx, IntendedCertificate intended, string reason, T answer, string? detail = null)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(intended);
        ledger.Discard(tx, intended.Intent, reason, detail);
        await tx.CommitAsync(CancellationToken.None);
        return answer;
    }

    /// <summary>The transaction that was to store the signed certificate failed (or the request was aborted): recorded in one of its own.</summary>
    public Task StoreFailedAsync(IntendedCertificate intended, Exception failure)
    {
        ArgumentNullException.ThrowIfNull(intended);
        ArgumentNullException.ThrowIfNull(failure);
        return ledger.DiscardInOwnTransactionAsync(database, intended.Intent, DiscardReasons.StoreFailed, failure.GetType().Name);
    }

    private static string IssuanceId(WriteTransaction tx, DateTimeOffset issuedAt, string windowId)
    {
        var sequence = EndEntityCertificateStore.NextDailySequence(tx, Jst.DateOf(issuedAt));
        if (sequence > 99_999)
        {
            throw new InvalidOperationException($"more than 99999 issuances on JST day {Jst.DateOf(issuedAt)}");
        }

        return string.Create(CultureInfo.InvariantCulture, $"{Jst.ToJst(issuedAt):yyyyMMddHHmmss}{sequence:D5}{windowId}");
    }
}
