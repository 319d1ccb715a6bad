using System.Text.Json;
using Jpki.Core.Revocation;

namespace Jpki.Core.Audit;

/// <summary>A certificate as the trail shows it (the <c>certificates</c> row, no DER).</summary>
public sealed class TrailCertificateRow
{
    public string Serial { get; set; } = "";

    public string IssuerKeyId { get; set; } = "";

    public string Kind { get; set; } = "";

    public string? MunicipalityCode { get; set; }

    public long? JukiSequence { get; set; }

    public string Status { get; set; } = "";

    public long NotBeforeUs { get; set; }

    public long NotAfterUs { get; set; }

    public long CreatedUs { get; set; }

    public long? RevokedAtUs { get; set; }

    public long? Reason { get; set; }

    public string? InvalidityDate { get; set; }

    public string? RevocationSource { get; set; }

    public string? RevocationCause { get; set; }

    public string? DeliveryState { get; set; }
}

/// <summary>One audit record about a certificate, its details as parsed JSON.</summary>
public sealed record TrailAuditRecord(long Seq, long TimeUs, string Actor, string Action, JsonElement Details)
{
    public string? Detail(string name) =>
        Details.ValueKind == JsonValueKind.Object && Details.TryGetProperty(name, out var value)
            ? value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Null => null,
                _ => value.GetRawText(),
            }
            : null;
}

/// <summary>A revocation request by a person or the CA itself (<c>revocation_requests</c>).</summary>
public sealed class TrailRequestRow
{
    public long Id { get; set; }

    public string Cause { get; set; } = "";

    public string RequestedBy { get; set; } = "";

    public string Statement { get; set; } = "";

    public long TimeUs { get; set; }
}

/// <summary>An issuer-key compromise: the officer who asked and the second who approved.</summary>
public sealed class TrailCompromiseRow
{
    public long Id { get; set; }

    public string IssuerKeyId { get; set; } = "";

    public string RequestedBy { get; set; } = "";

    public string Statement { get; set; } = "";

    public long RequestedUs { get; set; }

    public string? ApprovedBy { get; set; }

    public long? ApprovedUs { get; set; }
}

/// <summary>The first published CRL that listed the certificate, with its archive row.</summary>
public sealed class TrailCrlRow
{
    public string IssuerKeyId { get; set; } = "";

    public string Scope { get; set; } = "";

    public long Number { get; set; }

    public long ThisUpdateUs { get; set; }

    public string? Kind { get; set; }

    public long? PublishedUs { get; set; }

    public string? Sha256 { get; set; }
}

/// <summary>The first 'revoked' OCSP answer the responder installed.</summary>
public sealed class TrailOcspRow
{
    /// <summary>The answer's producedAt as encoded: whole seconds.</summary>
    public long ProducedUs { get; set; }

    public long InstalledUs { get; set; }

    /// <summary>When the responder signed the answer (µs); null for answers recorded before migration 0019.</summary>
    public long? SignedUs { get; set; }

    /// <summary>The answer's real instant: when it was signed, or its producedAt for an old row.</summary>
    public long AnsweredUs => SignedUs ?? ProducedUs;
}

/// <summary>One revocation step (first revocation or allowed reason change) and what caused it.</summary>
public sealed record TrailRevocationStep(
    TrailAuditRecord Record,
    string? Source,
    StoredFeedEvent? Event,
    TrailRequestRow? Request,
    TrailCompromiseRow? Compromise);

/// <summary>Everything the store knows about why and when a certificate was revoked, and who did each step.</summary>
public sealed record CertificateTrail(
    TrailCertificateRow Certificate,
    TrailAuditRecord? Issuance,
    IReadOnlyList<TrailRevocationStep> Revocations,
    TrailCrlRow? FirstCrl,
    TrailOcspRow? FirstOcspRevoked);

/// <summary>The filter of a revocation search; all optional. Dates are JST calendar days, inclusive.</summary>
public sealed record RevocationFilter
{
    public string? MunicipalityCode { get; init; }

    public DateOnly? From { get; init; }

    public DateOnly? To { get; init; }

    public string? Cause { get; init; }

    public string? Serial { get; init; }

    /// <summary>Keyset position: rows strictly after (revokedAtUs, serial).</summary>
    public (long RevokedAtUs, string Serial)? After { get; init; }

    /// <summary>At most this many rows (null: all, for streamed exports).</summary>
    public int? Limit { get; init; }
}

/// <summary>One revoked certificate in a search or export.</summary>
public sealed class RevocationListRow
{
    public string Serial { get; set; } = "";

    public string IssuerKeyId { get; set; } = "";

    public string Kind { get; set; } = "";

    public string? MunicipalityCode { get; set; }

    public long RevokedAtUs { get; set; }

    public long? Reason { get; set; }

    public string? Cause { get; set; }

    public string? Source { get; set; }

    public string? InvalidityDate { get; set; }

    public long? CrlNumber { get; set; }

    public long? CrlThisUpdateUs { get; set; }

    public long? OcspProducedUs { get; set; }
}

/// <summary>Revocations on one JST day by cause.</summary>
public sealed record DailyCauseCount(DateOnly Date, string Cause, long Count);

/// <summary>Feed lag (arrival → applied) of the events received on one JST day, in milliseconds.</summary>
public sealed record DailyFeedLag(DateOnly Date, long Events, double P50Ms, double P90Ms, double P99Ms, double MaxMs);
