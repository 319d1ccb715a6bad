using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Certificates;
using Jpki.Core.Issuers;
using Jpki.Core.Revocation;
using Jpki.Core.Signatures;
using Jpki.Core.Store;

namespace Jpki.Core.Registration;

/// <summary>
/// Stores a signed certificate in one write transaction: what may have changed while it was
/// signed is checked again under the writers' lock (each way out is a discarded signature with
/// its record), then the row, the intent's completion, the 'certificate.issued' record, the
/// feed events that arrived meanwhile, the renewed certificate's revocation and the
/// Idempotency-Key's answer commit together.
/// </summary>
public sealed class IssuanceCommit(Database database, AuditLog audit, CertificateRevoker revoker, IntendedIssuance intents, string hmacKeyId, IIssuanceAnswerBodies bodies)
{
    /// <summary>The audit action of an issued certificate (also what the per-operator limit counts).</summary>
    public const string IssuedAction = "certificate.issued";

    private const int CreatedStatus = 201;
    private const int ConflictStatus = 409;

    public async Task<IssuanceResult> StoreAsync(IssuanceAsk ask, IssuancePlan plan, SignedCertificate certificate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ask);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(certificate);
        try
        {
            using var tx = await database.BeginWriteAsync(cancellationToken);
            if (Recheck(tx, ask, plan, certificate.SpkiSha256) is { } failed)
            {
                return await intents.DiscardAsync(tx, certificate.Intended, failed.DiscardReason, failed.Answer);
            }

            IntendedIssuance.Certified(tx, certificate.Intended);
            Insert(tx, ask, plan, certificate);
            var serial = certificate.Answer.Serial;

            // Still under the writers' lock: an event for this resident later than the record the
            // certificate was made from may have been applied meanwhile; it applies to this
            // certificate too, through the same rule table (docs/design.md §5).
            if (ApplyLaterEvents(tx, serial, plan.ResidentKey, plan.Record.Sequence) is { } revokedBy)
            {
                var changed = bodies.RevokedAtCommit(serial, revokedBy.Sequence, revokedBy.Cause);
                RememberAnswer(tx, ask, ConflictStatus, changed);
                await tx.CommitAsync(cancellationToken);
                return new IssuanceRevokedAtCommit(serial, revokedBy.Sequence, revokedBy.Cause, changed);
            }

            if (ask.Renews is { } superseded)
            {
                SupersedeRenewed(tx, ask.Operator, superseded, serial, plan.Now);
            }

            RememberAnswer(tx, ask, CreatedStatus, certificate.AnswerBody);
            await tx.CommitAsync(cancellationToken);
            return new IssuanceIssued(certificate.Answer, certificate.AnswerBody);
        }
        catch (Exception e)
        {
            // The store did not take the signed certificate (a store error, or the request was aborted).
            await intents.StoreFailedAsync(certificate.Intended, e);
            throw;
        }
    }

    /// <summary>
    /// Re-checked under the writers' lock: a concurrent retry or a concurrent request with the same
    /// key; an officer may have stopped issuance, or frozen the key, and the renewed certificate may
    /// have been revoked (Juki-Net, the window) while this one was signed.
    /// </summary>
    private (string DiscardReason, IssuanceResult Answer)? Recheck(WriteTransaction tx, IssuanceAsk ask, IssuancePlan plan, string spkiSha256)
    {
        if (ask.HasIdempotencyKey && IdempotencyStore.Find(tx.Connection, ask.Operator.Id, ask.IdempotencyKey, tx.Transaction) is { } stored)
        {
            return (DiscardReasons.IdempotentReplay, IssuanceService.Replay(stored, ask.RequestSha256));
        }

        if (EndEntityCertificateStore.PublicKeyCertified(tx.Connection, spkiSha256, tx.Transaction))
        {
            return (DiscardReasons.DuplicateKey, IssuanceService.DuplicateKey());
        }

        if (JukiNetFeedStore.IsStopped(tx, JukiNetFeedStore.IssuanceSwitch))
        {
            return (DiscardReasons.IssuanceStopped, IssuanceService.IssuanceStopped());
        }

        var keyId = plan.IssuerKey.Key.Id;
        if (IssuerStore.FindKey(tx.Connection, keyId, tx.Transaction)?.State != "active")
        {
            return (DiscardReasons.IssuerKeyNotActive, new IssuanceRefused(IssuanceRefusal.IssuerKeyNotActive, $"issuer key '{keyId}' is no longer active; nothing was issued"));
        }

        if (ask.Renews is { } renewed
            && RenewalPolicy.Check(EndEntityCertificateStore.FindRenewalTarget(tx.Connection, renewed, tx.Transaction), renewed, ask.Kind, plan.ResidentKey, hmacKeyId, Instant.NowMicros(tx.Time)) is { } renewalRefused)
        {
            return (DiscardReasons.RenewedCertificateUnusable, renewalRefused);
        }

        return null;
    }

    private void Insert(WriteTransaction tx, IssuanceAsk ask, IssuancePlan plan, SignedCertificate certificate)
    {
        var serial = certificate.Answer.Serial;
        var kind = ProfilePolicy.KindName(ask.Kind);
        EndEntityCertificateStore.Insert(tx, new EndEntityCertificateRow
        {
            Serial = serial,
            IssuerKeyId = plan.IssuerKey.Key.Id,
            Kind = kind,
            MunicipalityCode = plan.Profile.MunicipalityCode,
            ResidentKey = plan.ResidentKey,
            HmacKeyId = hmacKeyId,
            JukiSequence = plan.Record.Sequence,
            NotBeforeUs = Instant.ToMicros(plan.Validity.NotBefore),
            NotAfterUs = Instant.ToMicros(plan.Validity.NotAfter),
            Der = certificate.Issued.Der,
            CrlDpDer = certificate.Issued.CrlDistributionPointsDer,
            SpkiSha256 = certificate.SpkiSha256,
            CreatedUs = Instant.ToMicros(plan.Now),
        });
        var details = new JsonObject
        {
            ["serial"] = serial,
            ["issuerKeyId"] = plan.IssuerKey.Key.Id,
            ["kind"] = kind,
            ["municipalityCode"] = plan.Profile.MunicipalityCode,
            ["jukiSequence"] = plan.Record.Sequence,
            ["windowId"] = ask.WindowId,
            ["tbsSha256"] = Convert.ToHexStringLower(certificate.Issued.TbsSha256),
            ["birthdaysCounted"] = plan.Validity.BirthdaysCounted,
            ["limitedBy"] = JsonNamingPolicy.CamelCase.ConvertName(plan.Validity.LimitedBy.ToString()),
        };
        if (ask.Renews is { } renews)
        {
            details["renews"] = renews;
        }

        if (ask.OverrideReason is { } reason)
        {
            details["overrideReason"] = reason;
        }

        audit.Append(tx, new AuditRecord(ask.Operator.Id, IssuedAction, serial, details));
    }

    private static void RememberAnswer(WriteTransaction tx, IssuanceAsk ask, int status, string body)
    {
        if (ask.HasIdempotencyKey)
        {
            IdempotencyStore.Insert(tx, ask.Operator.Id, ask.IdempotencyKey, ask.RequestSha256, status, body);
        }
    }

    /// <summary>Revokes the new certificate for each later recorded event whose rule revokes it; the last such event, or null.</summary>
    private StoredFeedEvent? ApplyLaterEvents(WriteTransaction tx, string serial, byte[] residentKey, long basedOnSequence)
    {
        StoredFeedEvent? revokedBy = null;
        foreach (var later in JukiNetFeedStore.ResidentEventsAfter(tx, residentKey, hmacKeyId, basedOnSequence))
        {
            var cause = RevocationRules.ParseCause(later.Cause)
                ?? throw new InvalidOperationException($"stored event {later.Sequence} names an unknown cause");
            var result = revoker.Revoke(tx, new RevocationOrder
            {
                Serial = serial,
                Cause = cause,
                Source = JukiNetFeedApplier.SourceOf(later.Sequence),
                Actor = JukiNetFeedApplier.Actor,
                InvalidityDate = Instant.ParseDateText(later.EffectiveDate),
            });
            if (result.Changed)
            {
                revokedBy = later;
            }
        }

        return revokedBy;
    }

    /// <summary>
    /// Revokes the renewed certificate as superseded (cause renewal), in the transaction that
    /// stores its successor: a request row names who and why, so the revocation trail follows it
    /// like any window request; the status change is what OCSP and the CRLs read.
    /// </summary>
    private void SupersedeRenewed(WriteTransaction tx, Account account, string oldSerial, string newSerial, DateTimeOffset now)
    {
        var statement = $"renewed by certificate {newSerial}";
        var requestId = RevocationRequestStore.RecordRequest(tx, oldSerial, RevocationCause.Renewal, account.Id, statement, Instant.ToMicros(now));
        var result = revoker.Revoke(tx, new RevocationOrder
        {
            Serial = oldSerial,
            Cause = RevocationCause.Renewal,
            Source = RevocationRequestStore.SourceOf(requestId),
            Actor = account.Id,
            InvalidityDate = Jst.DateOf(now),
        });
        if (result.Outcome != RevocationOutcome.Revoked)
        {
            // Checked good under this same lock a moment ago: anything else is a bug, and nothing may commit.
            throw new InvalidOperationException($"renewed certificate {oldSerial} was not revoked: {result.Outcome}");
        }

        audit.Append(tx, new AuditRecord(account.Id, "revocation.requested", oldSerial, new JsonObject
        {
            ["requestId"] = requestId,
            ["cause"] = RevocationRules.WireName(RevocationCause.Renewal),
            ["statement"] = statement,
            ["outcome"] = "revoked",
        }));
    }
}
