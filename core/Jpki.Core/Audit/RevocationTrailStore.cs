using System.Data.Common;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Dapper;
using Jpki.Core.Revocation;
using Jpki.Core.Store;

namespace Jpki.Core.Audit;

/// <summary>
/// The revocation trail aggregate's SQL in one place (docs/design.md §7): a certificate's whole trail,
/// the revocation search (keyset pagination, unbuffered for exports) and the daily statistics.
/// Read-only; plain SQL that SQLite and PostgreSQL both run; instants in integer microseconds and
/// JST days computed as integer arithmetic on them.
/// </summary>
public static class RevocationTrailStore
{
    public const long MicrosPerDay = 86_400_000_000;
    public const long JstOffsetMicros = 9 * 3_600_000_000L;

    private const string CertificateColumns =
        """
        serial AS Serial, issuer_key_id AS IssuerKeyId, kind AS Kind, municipality_code AS MunicipalityCode,
        juki_sequence AS JukiSequence, status AS Status, not_before_us AS NotBeforeUs, not_after_us AS NotAfterUs,
        created_us AS CreatedUs, revoked_at_us AS RevokedAtUs, reason AS Reason, invalidity_date AS InvalidityDate,
        revocation_source AS RevocationSource, revocation_cause AS RevocationCause, delivery_state AS DeliveryState
        """;

    /// <summary>The first microsecond of JST day <paramref name="date"/>.</summary>
    public static long JstDayStartUs(DateOnly date) =>
        (date.DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber) * MicrosPerDay - JstOffsetMicros;

    /// <summary>The JST day of instant <paramref name="us"/>.</summary>
    public static DateOnly JstDayOf(long us) =>
        DateOnly.FromDayNumber(DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber + (int)Math.Floor((us + JstOffsetMicros) / (double)MicrosPerDay));

    /// <summary>The trail of one end-entity certificate; null when the CA issued no such serial.</summary>
    public static CertificateTrail? Trail(DbConnection db, string serial)
    {
        ArgumentNullException.ThrowIfNull(db);
        var certificate = db.QuerySingleOrDefault<TrailCertificateRow>($"SELECT {CertificateColumns} FROM certificates WHERE serial = @serial", new { serial });
        if (certificate is null)
        {
            return null;
        }

        var records = db.Query<(long Seq, long TimeUs, string Actor, string Action, string Details)>(
                """
                SELECT seq, time_us, actor, action, details FROM audit_log
                WHERE subject = @serial AND action IN ('certificate.issued', 'certificate.revoked', 'certificate.revocation-reason-changed')
                ORDER BY seq
                """,
                new { serial })
            .Select(r => new TrailAuditRecord(r.Seq, r.TimeUs, r.Actor, r.Action, JsonDocument.Parse(r.Details).RootElement.Clone()))
            .ToList();
        var issuance = records.FirstOrDefault(r => r.Action == "certificate.issued");
        var steps = records.Where(r => r.Action != "certificate.issued").Select(r => Step(db, r)).ToList();
        var crl = db.QuerySingleOrDefault<TrailCrlRow>(
            """
            SELECT f.issuer_key_id AS IssuerKeyId, f.scope AS Scope, f.number AS Number, f.this_update_us AS ThisUpdateUs,
                   c.kind AS Kind, c.published_us AS PublishedUs, c.sha256 AS Sha256
            FROM crl_first_listings f
            LEFT JOIN crls c ON c.issuer_key_id = f.issuer_key_id AND c.scope = f.scope AND c.number = f.number
            WHERE f.serial = @serial
            """,
            new { serial });
        var ocsp = db.QuerySingleOrDefault<TrailOcspRow>(
            "SELECT produced_us AS ProducedUs, installed_us AS InstalledUs, signed_us AS SignedUs FROM ocsp_first_revoked WHERE serial = @serial",
            new { serial });
        return new CertificateTrail(certificate, issuance, steps, crl, ocsp);
    }

    private static TrailRevocationStep Step(DbConnection db, TrailAuditRecord record)
    {
        var source = record.Detail("source");
        StoredFeedEvent? jukiNetEvent = null;
        TrailRequestRow? request = null;
        TrailCompromiseRow? compromise = null;
        if (IdAfter(source, "jukinet:") is { } sequence)
        {
            jukiNetEvent = JukiNetFeedStore.FindEvent(db, sequence);
        }
        else if (IdAfter(source, "request:") is { } requestId)
        {
            request = db.QuerySingleOrDefault<TrailRequestRow>(
                "SELECT id AS Id, cause AS Cause, requested_by AS RequestedBy, statement AS Statement, time_us AS TimeUs FROM revocation_requests WHERE id = @requestId",
                new { requestId });
        }
        else if (IdAfter(source, "issuer-compromise:") is { } compromiseId)
        {
            compromise = db.QuerySingleOrDefault<TrailCompromiseRow>(
                """
                SELECT id AS Id, issuer_key_id AS IssuerKeyId, requested_by AS RequestedBy, statement AS Statement,
                       requested_us AS RequestedUs, approved_by AS ApprovedBy, approved_us AS ApprovedUs
                FROM issuer_compromise_requests WHERE id = @compromiseId
                """,
                new { compromiseId });
        }

        return new TrailRevocationStep(record, source, jukiNetEvent, request, compromise);
    }

    private static long? IdAfter(string? source, string prefix) =>
        source is not null && source.StartsWith(prefix, StringComparison.Ordinal)
            && long.TryParse(source.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            ? id
            : null;

    /// <summary>
    /// Revoked end-entity certificates matching <paramref name="filter"/>, ordered by (revocation
    /// time, serial). Unbuffered: the caller streams the rows while the connection stays open.
    /// </summary>
    public static IEnumerable<RevocationListRow> Search(DbConnection db, RevocationFilter filter)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(filter);
        var sql = new StringBuilder(
            """
            SELECT c.serial AS Serial, c.issuer_key_id AS IssuerKeyId, c.kind AS Kind, c.municipality_code AS MunicipalityCode,
                   c.revoked_at_us AS RevokedAtUs, c.reason AS Reason, c.revocation_cause AS Cause, c.revocation_source AS Source,
                   c.invalidity_date AS InvalidityDate, f.number AS CrlNumber, f.this_update_us AS CrlThisUpdateUs, o.produced_us AS OcspProducedUs
            FROM certificates c
            LEFT JOIN crl_first_listings f ON f.serial = c.serial
            LEFT JOIN ocsp_first_revoked o ON o.serial = c.serial
            WHERE c.status = 'revoked' AND c.kind IN ('signing', 'authentication')
            """);
        var parameters = new DynamicParameters();
        AppendConditions(sql, parameters, filter);
        sql.Append(" ORDER BY c.revoked_at_us, c.serial");
        if (filter.Limit is { } limit)
        {
            sql.Append(" LIMIT @limit");
            parameters.Add("limit", (long)limit);
        }

        return db.Query<RevocationListRow>(sql.ToString(), parameters, buffered: false);
    }

    /// <summary>The filter's conditions. Only constant SQL is appended; every value is a parameter.</summary>
    private static void AppendConditions(StringBuilder sql, DynamicParameters parameters, RevocationFilter filter)
    {
        if (filter.MunicipalityCode is { } municipality)
        {
            sql.Append(" AND c.municipality_code = @municipality");
            parameters.Add("municipality", municipality);
        }

        if (filter.Cause is { } cause)
        {
            sql.Append(" AND c.revocation_cause = @cause");
            parameters.Add("cause", cause);
        }

        if (filter.Serial is { } serial)
        {
            sql.Append(" AND c.serial = @serial");
            parameters.Add("serial", serial);
        }

        if (filter.From is { } from)
        {
            sql.Append(" AND c.revoked_at_us >= @fromUs");
            parameters.Add("fromUs", JstDayStartUs(from));
        }

        if (filter.To is { } to)
        {
            sql.Append(" AND c.revoked_at_us < @toUs");
            parameters.Add("toUs", JstDayStartUs(to.AddDays(1)));
        }

        if (filter.After is { } after)
        {
            sql.Append(" AND (c.revoked_at_us > @afterUs OR (c.revoked_at_us = @afterUs AND c.serial > @afterSerial))");
            parameters.Add("afterUs", after.RevokedAtUs);
            parameters.Add("afterSerial", after.Serial);
        }
    }

    /// <summary>End-entity revocations per JST day (of the first revocation) and cause, days from..to inclusive.</summary>
    public static IReadOnlyList<DailyCauseCount> RevocationsPerDay(DbConnection db, DateOnly from, DateOnly to)
    {
        ArgumentNullException.ThrowIfNull(db);
        var epochDay = DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;
        return db.Query<(long Day, string? Cause, long Count)>(
                """
                SELECT (revoked_at_us + @offset) / @perDay AS day, revocation_cause AS cause, COUNT(*) AS count
                FROM certificates
                WHERE status = 'revoked' AND kind IN ('signing', 'authentication') AND revoked_at_us >= @fromUs AND revoked_at_us < @toUs
                GROUP BY 1, 2
                ORDER BY 1, 2
                """,
                new { offset = JstOffsetMicros, perDay = MicrosPerDay, fromUs = JstDayStartUs(from), toUs = JstDayStartUs(to.AddDays(1)) })
            .Select(r => new DailyCauseCount(DateOnly.FromDayNumber(epochDay + (int)r.Day), r.Cause ?? "unknown", r.Count))
            .ToList();
    }

    /// <summary>
    /// Arrival → applied lag of the Juki-Net events received on each JST day from..to, as
    /// nearest-rank percentiles. One indexed range read; the percentiles are computed here.
    /// </summary>
    public static IReadOnlyList<DailyFeedLag> FeedLag(DbConnection db, DateOnly from, DateOnly to)
    {
        ArgumentNullException.ThrowIfNull(db);
        var rows = db.Query<(long ReceivedUs, long AppliedUs)>(
            "SELECT received_us, applied_us FROM jukinet_events WHERE received_us >= @fromUs AND received_us < @toUs",
            new { fromUs = JstDayStartUs(from), toUs = JstDayStartUs(to.AddDays(1)) });
        return rows
            .GroupBy(r => JstDayOf(r.ReceivedUs))
            .OrderBy(g => g.Key)
            .Select(g =>
            {
                var lags = g.Select(r => Math.Max(0, r.AppliedUs - r.ReceivedUs) / 1000.0).Order().ToArray();
                return new DailyFeedLag(g.Key, lags.Length, Percentile(lags, 50), Percentile(lags, 90), Percentile(lags, 99), lags[^1]);
            })
            .ToList();
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, int percent)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        if (sorted.Count == 0)
        {
            return 0;
        }

        var rank = (int)Math.Ceiling(percent / 100.0 * sorted.Count);
        return sorted[Math.Clamp(rank, 1, sorted.Count) - 1];
    }
}
