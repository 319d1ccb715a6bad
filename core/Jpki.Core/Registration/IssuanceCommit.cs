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

    /// <summary>
    /// Stores the signed certificate, or says why not. When the connection to the primary is lost
    /// (a failover, a restart: <see cref="Database.ConnectionLost"/>), the transaction's outcome is
    /// read back from the certificate's signature intent on whichever node is primary now, under the
    /// writers' lock (so after any transaction of the old session that is still finishing): certified
    /// means the COMMIT took effect and its answer is given; still open means nothing was stored, and
    /// the store is tried again (at most <see cref="MaxStoreAttempts"/> times in all). Anything else
    /// (the store stays unreachable) closes the intent if it can and rethrows: the caller answers
    /// 503 store-unavailable, and a retry with the same Idempotency-Key finds what was stored.
    /// </summary>
    public async Task<IssuanceResult> StoreAsync(IssuanceAsk ask, IssuancePlan plan, SignedCertificate certificate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ask);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(certificate);
        for (var attempt = 1; ; attempt++)
        {
            IssuanceResult? committing = null;
            try
            {
                using var tx = await database.BeginWriteAsync(cancellationToken);
                var (answer, discardReason) = Write(tx, ask, plan, certificate);
                if (discardReason is not null)
                {
                    return await intents.DiscardAsync(tx, certificate.Intended, discardReason, answer);
                }

                committing = answer;
                await tx.CommitAsync(cancellationToken);
                return answer;
            }
            catch (Exception e) when (attempt < MaxStoreAttempts && database.ConnectionLost(e))
            {
                var outcome = await IntentOutcomeAsync(certificate.Intended, cancellationToken);
                if (outcome == CertifiedOutcome && committing is not null)
                {
                    // The COMMIT was cut after it took effect (and reached a standby that is primary now).
                    return committing;
                }

                if (outcome != OpenOutcome)
                {
                    await intents.StoreFailedAsync(certificate.Intended, e);
                    throw;
                }

                // Still open: that transaction rolled back (or died with a fenced primary); store again.
            }
            catch (Exception e)
            {
                // The store did not take the signed certificate (a store error, or the request was aborted).
                await intents.StoreFailedAsync(certificate.Intended, e);
                throw;
            }
        }
    }

    /// <summary>Tries of <see cref="StoreAsync"/> when the connection to the primary is lost in between.</summary>
    public const int MaxStoreAttempts = 3;

    private const string CertifiedOutcome = "certified";

    private const string OpenOutcome = "open";

    /// <summary>
    /// The intent's outcome as the current primary has it: "certified", "discarded", "open", or
    /// null when it cannot be read (the store is still unreachable) or the row is missing.
    /// </summary>
    private async Task<string?> IntentOutcomeAsync(IntendedCertificate intended, CancellationToken cancellationToken)
    {
        try
        {
            using var tx = await database.BeginWriteAsync(cancellationToken);
            var outcome = tx.QuerySingleOrDefault<string?>(
                "SELECT COALESCE(outcome, 'open') FROM signature_intents WHERE serial = @serial",
                new { serial = intended.Intent.Serial });
            return outcome;
        }
        catch (Exception e) when (database.ConnectionLost(e))
        {
            return null;
        }
    }

    /// <summary>
    /// Everything the transaction writes: the re-checks (a refusal and the discard reason), or the
    /// certificate, its intent's completion, the later feed events, the renewal and the remembered answer.
    /// </summary>
    private (IssuanceResult Answer, string? DiscardReason) Write(WriteTransaction tx, IssuanceAsk ask, IssuancePlan plan, SignedCertificate certificate)
    {
        if (Recheck(tx, ask, plan, certificate.SpkiSha256) is { } failed)
        {
            return (failed.Answer, failed.DiscardReason);
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
            return (new IssuanceRevokedAtCommit(serial, revokedBy.Sequence, revokedBy.Cause, changed), null);
        }

        if (ask.Renews is { } superseded)
        {
            SupersedeRenewed(tx, ask.Operator, superseded, serial, plan.Now);
        }

        RememberAnswer(tx, ask, CreatedStatus, certificate.AnswerBody);
        return (new IssuanceIssued(certificate.Answer, certificate.AnswerBody), null);
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
