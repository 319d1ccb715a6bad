using System.Text.Json.Nodes;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Certificates;
using Jpki.Core.Issuers;
using Jpki.Core.Store;
using Jpki.JukiNet;

namespace Jpki.Core.Revocation;

/// <summary>Why a revocation request or a compromise step was refused; each maps to one problem type of the API.</summary>
public enum RevocationRefusal
{
    None,
    CertificateNotFound,
    MunicipalityNotBound,
    InvalidResidentCode,
    NotTheHolder,
    AlreadyRevoked,
    NotRevocable,
    IssuerKeyNotFound,
    IssuerKeyCompromised,
    CompromiseRequestNotFound,
    SecondOfficerRequired,
    CompromiseRequestExpired,
    RelatedOfficers,
    ApproverNewerThanRequest,
}

/// <summary>A person's request to revoke one certificate.</summary>
public sealed record RevocationAsk(string Serial, RevocationCause Cause, string Statement, Account Requester, string? ResidentCode);

/// <summary>What became of a revocation request: the revocation's result and request id, or the refusal (nothing changed).</summary>
public sealed record RevocationDecision(RevocationRefusal Refusal, RevocationResult? Result = null, long? RequestId = null, string? Detail = null)
{
    /// <summary>The same request again: the certificate is revoked already with this rule's reason; nothing changed.</summary>
    public bool Repeated => Refusal == RevocationRefusal.None && Result?.Outcome == RevocationOutcome.AlreadyRevoked;
}

/// <summary>What became of a compromise step.</summary>
public sealed record CompromiseDecision(RevocationRefusal Refusal, long RequestId = 0, DateTimeOffset ExpiresAt = default, int Revoked = 0, string? Detail = null);

/// <summary>
/// Revocations asked for by people (docs/design.md §9), apart from HTTP: at the window for the resident
/// in front of the operator (bound municipality, the holder's code compared as keyed hashes), by an
/// officer, and an issuer key's compromise, which needs two different, unrelated officers. The
/// reason always comes from <see cref="RevocationRules"/>; the request, the revocation and the audit
/// records commit together or, refused, nothing is written.
/// </summary>
public sealed class RevocationService(Database database, AuditLog audit, CertificateRevoker revoker, Func<ResidentCode, byte[]> residentKey, TimeProvider time, TimeSpan twoOfficerWindow)
{
    public async Task<RevocationDecision> RevokeAsync(RevocationAsk ask, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ask);
        using var tx = await database.BeginWriteAsync(cancellationToken);
        var target = EndEntityCertificateStore.FindRevocationTarget(tx, ask.Serial);
        if (target is null)
        {
            return new RevocationDecision(RevocationRefusal.CertificateNotFound);
        }

        if (ask.Requester.Role != AccountRole.Officer && CheckHolder(target, ask) is { } refused)
        {
            return refused;
        }

        var requestId = RevocationRequestStore.RecordRequest(tx, target.Serial, ask.Cause, ask.Requester.Id, ask.Statement, Instant.NowMicros(time));
        var result = revoker.Revoke(tx, new RevocationOrder
        {
            Serial = target.Serial,
            Cause = ask.Cause,
            Source = RevocationRequestStore.SourceOf(requestId),
            Actor = ask.Requester.Id,
            InvalidityDate = Jst.DateOf(time.GetUtcNow()),
        });
        var rule = RevocationRules.For(ask.Cause);
        switch (result.Outcome)
        {
            case RevocationOutcome.Revoked or RevocationOutcome.ReasonChanged:
                if (ask.Cause == RevocationCause.DestroyedBeforeDelivery)
                {
                    // The window reports the card never got it: the delivery ends here too.
                    EndEntityCertificateStore.SetDeliveryState(tx, target.Serial, "destroyed");
                }

                audit.Append(tx, new AuditRecord(ask.Requester.Id, "revocation.requested", target.Serial, new JsonObject
                {
                    ["requestId"] = requestId,
                    ["cause"] = RevocationRules.WireName(ask.Cause),
                    ["statement"] = ask.Statement,
                    ["outcome"] = OutcomeText(result.Outcome),
                }));
                await tx.CommitAsync(cancellationToken);
                return new RevocationDecision(RevocationRefusal.None, result, requestId);
            case RevocationOutcome.AlreadyRevoked when result.Reason == rule.Reason:
                return new RevocationDecision(RevocationRefusal.None, result);
            case RevocationOutcome.AlreadyRevoked:
                return new RevocationDecision(RevocationRefusal.AlreadyRevoked, result, Detail: $"the certificate is revoked with reason {RevocationReasons.WireName(result.Reason!.Value)}, which {RevocationReasons.WireName(rule.Reason!.Value)} may not replace");
            case RevocationOutcome.KeptByRule:
                return new RevocationDecision(RevocationRefusal.NotRevocable, result, Detail: $"a {target.Kind} certificate is not revoked by {RevocationRules.WireName(ask.Cause)}");
            default:
                return new RevocationDecision(RevocationRefusal.CertificateNotFound);
        }
    }

    /// <summary>The first officer's half of an issuer-key compromise: recorded, waits for a second officer.</summary>
    public async Task<CompromiseDecision> RequestCompromiseAsync(string issuerKeyId, string statement, Account officer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(officer);
        using var tx = await database.BeginWriteAsync(cancellationToken);
        switch (IssuerStore.FindKey(tx.Connection, issuerKeyId, tx.Transaction)?.State)
        {
            case null:
                return new CompromiseDecision(RevocationRefusal.IssuerKeyNotFound);
            case "compromised":
                return new CompromiseDecision(RevocationRefusal.IssuerKeyCompromised, Detail: "the key is marked compromised already");
        }

        var now = time.GetUtcNow();
        var expires = now + twoOfficerWindow;
        var id = RevocationRequestStore.InsertCompromise(tx, issuerKeyId, officer.Id, statement, Instant.ToMicros(now), Instant.ToMicros(expires));
        audit.Append(tx, new AuditRecord(officer.Id, "issuer-key.compromise-requested", issuerKeyId, new JsonObject
        {
            ["requestId"] = id,
            ["statement"] = statement,
            ["expiresAt"] = Instant.ToMicros(expires),
        }));
        await tx.CommitAsync(cancellationToken);
        return new CompromiseDecision(RevocationRefusal.None, id, expires);
    }

    /// <summary>
    /// The second officer's approval: the key is frozen (state compromised: no issuance, no CRL or
    /// OCSP signing with it) and every certificate it issued is revoked with keyCompromise.
    /// </summary>
    public async Task<CompromiseDecision> ApproveCompromiseAsync(string issuerKeyId, long requestId, Account officer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(officer);
        using var tx = await database.BeginWriteAsync(cancellationToken);
        var request = RevocationRequestStore.FindCompromise(tx, requestId, issuerKeyId);
        var nowUs = Instant.NowMicros(time);
        var refusal = request switch
        {
            null => RevocationRefusal.CompromiseRequestNotFound,
            { ApprovedBy: not null } => RevocationRefusal.IssuerKeyCompromised,
            _ when request.RequestedBy == officer.Id => RevocationRefusal.SecondOfficerRequired,
            _ when nowUs > request.ExpiresUs => RevocationRefusal.CompromiseRequestExpired,
            // The rules of every dual-control approval: an officer who came to power through the
            // requester, or after the request, is not a second person.
            _ when AccountStore.AreRelated(tx.Connection, request.RequestedBy, officer.Id, tx.Transaction) => RevocationRefusal.RelatedOfficers,
            _ when (AccountStore.CreatedUs(tx.Connection, officer.Id, tx.Transaction) ?? long.MaxValue) >= request.RequestedUs => RevocationRefusal.ApproverNewerThanRequest,
            _ => RevocationRefusal.None,
        };
        if (refusal != RevocationRefusal.None)
        {
            return new CompromiseDecision(refusal, Detail: request?.ApprovedBy is { } by ? $"approved by {by}" : null);
        }

        RevocationRequestStore.ApproveCompromise(tx, requestId, officer.Id, nowUs);
        IssuerStore.MarkCompromised(tx, issuerKeyId);
        audit.Append(tx, new AuditRecord(officer.Id, "issuer-key.compromised", issuerKeyId, new JsonObject
        {
            ["requestId"] = requestId,
            ["requestedBy"] = request!.RequestedBy,
            ["approvedBy"] = officer.Id,
        }));
        var source = RevocationRequestStore.CompromiseSourceOf(requestId);
        var revoked = EndEntityCertificateStore.SerialsIssuedBy(tx, issuerKeyId)
            .Count(serial => revoker.Revoke(tx, new RevocationOrder { Serial = serial, Cause = RevocationCause.IssuerKeyCompromise, Source = source, Actor = officer.Id }).Changed);
        await tx.CommitAsync(cancellationToken);
        return new CompromiseDecision(RevocationRefusal.None, requestId, Revoked: revoked);
    }

    public static string OutcomeText(RevocationOutcome outcome) => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(outcome.ToString());

    /// <summary>The window revokes only for the resident in front of it: bound municipality, and the holder's own code.</summary>
    private RevocationDecision? CheckHolder(RevocationTargetRow target, RevocationAsk ask)
    {
        if (target.MunicipalityCode is null || !ask.Requester.IsBoundTo(target.MunicipalityCode))
        {
            return new RevocationDecision(RevocationRefusal.MunicipalityNotBound);
        }

        if (!ResidentCode.TryParse(ask.ResidentCode, out var code, out var codeError))
        {
            return new RevocationDecision(RevocationRefusal.InvalidResidentCode, Detail: $"the window must give the holder's residentCode: {codeError}");
        }

        return target.ResidentKey is null || !target.ResidentKey.AsSpan().SequenceEqual(residentKey(code))
            ? new RevocationDecision(RevocationRefusal.NotTheHolder)
            : null;
    }
}
