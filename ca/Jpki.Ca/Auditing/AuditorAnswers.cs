using Jpki.Core.Audit;
using Jpki.Core.Revocation;
using Jpki.Core.Store;

namespace Jpki.Ca.Auditing;

/// <summary>The JSON of <c>GET /api/v1/audit/certificates/{serial}/trail</c>; the trail pages render the same object.</summary>
public sealed record TrailAnswer(
    string Serial,
    string Kind,
    string IssuerKeyId,
    string? MunicipalityCode,
    string Status,
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter,
    DateTimeOffset? RevokedAt,
    string? Reason,
    string? Cause,
    string? Source,
    string? InvalidityDate,
    string? DeliveryState,
    TrailIssuance Issuance,
    IReadOnlyList<TrailStep> Revocations,
    TrailCrl? FirstCrl,
    TrailOcsp? FirstOcspRevoked,
    TrailLatencies Latencies)
{
    public static TrailAnswer From(CertificateTrail trail)
    {
        ArgumentNullException.ThrowIfNull(trail);
        var c = trail.Certificate;
        var steps = trail.Revocations.Select(TrailStep.From).ToList();
        var first = steps.FirstOrDefault();
        var revokedAt = c.RevokedAtUs is { } r ? Instant.FromMicros(r) : (DateTimeOffset?)null;
        // When the revocation was first asked for: the event's arrival, the request, or the second
        // officer's approval; with none of them (the delivery sweeper, a console verb) the revocation
        // itself — not its audit record, appended microseconds after the revocation instant.
        var causeAt = first?.Event?.ReceivedAt ?? first?.Request?.At ?? first?.Compromise?.ApprovedAt ?? revokedAt ?? first?.At;
        var crlAt = trail.FirstCrl is { } crl ? Instant.FromMicros(crl.ThisUpdateUs) : (DateTimeOffset?)null;
        var crlPublishedAt = trail.FirstCrl?.PublishedUs is { } published ? Instant.FromMicros(published) : (DateTimeOffset?)null;
        // The answer's signing instant, not its producedAt: that is whole seconds and would put an
        // answer signed in the revocation's own second up to 1 s before it.
        var ocspAt = trail.FirstOcspRevoked is { } ocsp ? Instant.FromMicros(ocsp.AnsweredUs) : (DateTimeOffset?)null;
        return new TrailAnswer(
            c.Serial,
            c.Kind,
            c.IssuerKeyId,
            c.MunicipalityCode,
            c.Status,
            Instant.FromMicros(c.NotBeforeUs),
            Instant.FromMicros(c.NotAfterUs),
            revokedAt,
            RevocationReasons.WireNameOfStored(c.Reason),
            c.RevocationCause,
            c.RevocationSource,
            c.InvalidityDate,
            c.DeliveryState,
            new TrailIssuance(
                Instant.FromMicros(c.CreatedUs),
                trail.Issuance?.Actor,
                c.MunicipalityCode,
                trail.Issuance?.Detail("windowId"),
                c.JukiSequence,
                trail.Issuance?.Seq),
            steps,
            trail.FirstCrl is { } f
                ? new TrailCrl(f.IssuerKeyId, f.Scope, f.Number, Instant.FromMicros(f.ThisUpdateUs), f.Kind, f.PublishedUs is { } p ? Instant.FromMicros(p) : null, f.Sha256, AuditorReports.CrlPublisherActor)
                : null,
            trail.FirstOcspRevoked is { } o
                ? new TrailOcsp(Instant.FromMicros(o.ProducedUs), o.SignedUs is { } signed ? Instant.FromMicros(signed) : null, Instant.FromMicros(o.InstalledUs), AuditorReports.OcspActor)
                : null,
            new TrailLatencies(
                Ms(first?.Event?.ReceivedAt, first?.Event?.AppliedAt),
                Ms(causeAt, revokedAt),
                Ms(revokedAt, crlAt),
                Ms(revokedAt, crlPublishedAt),
                Ms(revokedAt, ocspAt),
                Ms(causeAt, crlAt),
                Ms(causeAt, ocspAt)));
    }

    private static double? Ms(DateTimeOffset? start, DateTimeOffset? end) =>
        start is { } s && end is { } e ? Math.Round((e - s).TotalMilliseconds, 3) : null;
}

/// <summary>Who issued the certificate, at which window, from which Juki-Net record.</summary>
public sealed record TrailIssuance(DateTimeOffset At, string? By, string? MunicipalityCode, string? WindowId, long? JukiSequence, long? AuditSeq);

/// <summary>A revocation step (first revocation or reason change): when, who, why, from what.</summary>
public sealed record TrailStep(
    DateTimeOffset At,
    string By,
    string Action,
    string? Cause,
    string? Reason,
    string? PreviousReason,
    string? Source,
    long AuditSeq,
    TrailEvent? Event,
    TrailRequest? Request,
    TrailCompromise? Compromise)
{
    public static TrailStep From(TrailRevocationStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        var r = step.Record;
        return new TrailStep(
            Instant.FromMicros(r.TimeUs),
            r.Actor,
            r.Action,
            r.Detail("cause"),
            r.Detail("reason"),
            r.Detail("previousReason"),
            step.Source,
            r.Seq,
            step.Event is { } e
                ? new TrailEvent(e.Sequence, e.Type, e.Cause, Convert.ToHexStringLower(e.ResidentKey), e.HmacKeyId, e.EffectiveDate, Instant.FromMicros(e.ReceivedUs), Instant.FromMicros(e.AppliedUs), e.Outcome)
                : null,
            step.Request is { } q ? new TrailRequest(q.Id, q.Cause, q.RequestedBy, q.Statement, Instant.FromMicros(q.TimeUs)) : null,
            step.Compromise is { } k
                ? new TrailCompromise(k.Id, k.IssuerKeyId, k.RequestedBy, Instant.FromMicros(k.RequestedUs), k.ApprovedBy, k.ApprovedUs is { } a ? Instant.FromMicros(a) : null, k.Statement)
                : null);
    }
}

/// <summary>The stored Juki-Net event: keyed resident hash (hex) and HMAC key id, never the code.</summary>
public sealed record TrailEvent(long Sequence, string Type, string Cause, string ResidentKey, string HmacKeyId, string EffectiveDate, DateTimeOffset ReceivedAt, DateTimeOffset AppliedAt, string Outcome);

public sealed record TrailRequest(long Id, string Cause, string RequestedBy, string Statement, DateTimeOffset At);

public sealed record TrailCompromise(long Id, string IssuerKeyId, string RequestedBy, DateTimeOffset RequestedAt, string? ApprovedBy, DateTimeOffset? ApprovedAt, string Statement);

public sealed record TrailCrl(string IssuerKeyId, string Scope, long Number, DateTimeOffset ThisUpdate, string? Kind, DateTimeOffset? PublishedAt, string? Sha256, string By);

/// <summary>
/// The first OCSP answer that showed the certificate revoked: <c>producedAt</c> as the answer
/// encodes it (whole seconds), <c>signedAt</c> when the responder really signed it (the clock's
/// precision; absent for answers recorded before migration 0019), when it was installed.
/// </summary>
public sealed record TrailOcsp(DateTimeOffset ProducedAt, DateTimeOffset? SignedAt, DateTimeOffset InstalledAt, string By);

/// <summary>
/// Derived latencies in milliseconds ("cause" = event arrival, request, or compromise approval).
/// A CRL's thisUpdate is backdated for clock skew but never before a revocation it lists
/// (docs/decisions/0260-crl-thisupdate-after-its-revocations.md), so revocation → thisUpdate is
/// ≥ 0; revocation → published is when the CRL really appeared. Revocation → OCSP answer is to the
/// instant the responder signed the first 'revoked' answer (its producedAt is whole seconds, which
/// would put an answer of the revocation's own second before it), so it is ≥ 0 too.
/// </summary>
public sealed record TrailLatencies(
    double? EventArrivalToAppliedMs,
    double? CauseToRevocationMs,
    double? RevocationToCrlThisUpdateMs,
    double? RevocationToCrlPublishedMs,
    double? RevocationToOcspAnswerMs,
    double? CauseToCrlThisUpdateMs,
    double? CauseToOcspAnswerMs);

/// <summary>One revoked certificate in a search, a page or an export (CSV columns in this order).</summary>
public sealed record RevocationItem(
    string Serial,
    string IssuerKeyId,
    string Kind,
    string? MunicipalityCode,
    DateTimeOffset RevokedAt,
    string? Reason,
    string? Cause,
    string? Source,
    string? InvalidityDate,
    long? CrlNumber,
    DateTimeOffset? CrlThisUpdate,
    DateTimeOffset? OcspProducedAt)
{
    public static readonly IReadOnlyList<string> CsvHeader =
        ["serial", "issuerKeyId", "kind", "municipalityCode", "revokedAt", "reason", "cause", "source", "invalidityDate", "crlNumber", "crlThisUpdate", "ocspProducedAt"];

    public static RevocationItem From(RevocationListRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        return new RevocationItem(
            row.Serial,
            row.IssuerKeyId,
            row.Kind,
            row.MunicipalityCode,
            Instant.FromMicros(row.RevokedAtUs),
            RevocationReasons.WireNameOfStored(row.Reason),
            row.Cause,
            row.Source,
            row.InvalidityDate,
            row.CrlNumber,
            row.CrlThisUpdateUs is { } t ? Instant.FromMicros(t) : null,
            row.OcspProducedUs is { } o ? Instant.FromMicros(o) : null);
    }

    /// <summary>The CSV fields, instants as ISO 8601 UTC with microseconds (as the JSON has them).</summary>
    public IReadOnlyList<string?> CsvFields() =>
    [
        Serial, IssuerKeyId, Kind, MunicipalityCode, Iso(RevokedAt), Reason, Cause, Source, InvalidityDate,
        CrlNumber?.ToString(System.Globalization.CultureInfo.InvariantCulture), Iso(CrlThisUpdate), Iso(OcspProducedAt),
    ];

    public static string? Iso(DateTimeOffset? instant) =>
        instant?.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>One read: who, why, what it disclosed (<c>facts</c> or <c>certificates</c>, migration 0010), when.</summary>
public sealed record DisclosureRead(string Account, string Purpose, string Disclosed, DateTimeOffset At);

/// <summary>The disclosure report: every read of the resident's four facts (never the code itself).</summary>
public sealed record DisclosureAnswer(string HmacKeyId, int Count, IReadOnlyList<DisclosureRead> Reads);

public sealed record ActivityRead(string Purpose, string Disclosed, DateTimeOffset At);

/// <summary>An audited act of an operator: issuance, revocation, request or delivery of a certificate.</summary>
public sealed record ActivityAct(DateTimeOffset At, string Action, string Serial, string? Detail, long AuditSeq)
{
    public static ActivityAct From(OperatorActRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        var record = new TrailAuditRecord(row.Seq, row.TimeUs, "", row.Action, System.Text.Json.JsonDocument.Parse(row.Details).RootElement.Clone());
        var detail = row.Action switch
        {
            "certificate.issued" => $"{record.Detail("kind")} {record.Detail("municipalityCode")} {record.Detail("windowId")}",
            "certificate.revoked" or "certificate.revocation-reason-changed" => $"{record.Detail("cause")} ({record.Detail("reason")}) {record.Detail("source")}",
            "revocation.requested" => record.Detail("cause"),
            _ => null,
        };
        return new ActivityAct(Instant.FromMicros(row.TimeUs), row.Action, row.Subject, detail, row.Seq);
    }
}

/// <summary>The per-operator activity report.</summary>
public sealed record ActivityAnswer(
    string Account,
    string Role,
    string From,
    string To,
    int ReadCount,
    int IssuanceCount,
    int RevocationCount,
    IReadOnlyList<ActivityRead> Reads,
    IReadOnlyList<ActivityAct> Acts);
