using System.Globalization;
using System.Text.Json.Nodes;
using Jpki.Core;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Jpki.JukiNet;

namespace Jpki.Ca.Auditing;

/// <summary>A refused auditor query: the problem+json to answer (nothing was read or written).</summary>
public sealed record AuditorProblem(int Status, string Type, string Title, string Detail)
{
    public IResult ToResult() => ProblemTypes.Problem(Status, Type, Title, Detail);

    public static AuditorProblem Invalid(string detail) => new(400, ProblemTypes.InvalidRequest, "invalid request", detail);
}

/// <summary>
/// What the auditor API and pages share: parsing and checking the query, recording the query
/// itself in the audit chain (who asked what; a disclosure only as the keyed hash), and reading
/// through the Core stores. Returns answer objects that both JSON and HTML render.
/// </summary>
public sealed class AuditorReports(CaServices services)
{
    public const int DefaultPageSize = 100;
    public const int MaxPageSize = 1000;
    public const int MaxChartDays = 366;
    public const string CrlPublisherActor = "system/crl-publisher";
    public const string OcspActor = "system/ocsp";

    public CaServices Services => services;

    /// <summary>Parses a revocation search from query parameters; <paramref name="export"/> lifts the page size limit.</summary>
    public static (RevocationFilter? Filter, AuditorProblem? Problem) ParseFilter(IQueryCollection query, bool export)
    {
        ArgumentNullException.ThrowIfNull(query);
        string[] known = ["municipality", "from", "to", "cause", "serial", "limit", "after", "format"];
        if (query.Keys.FirstOrDefault(k => !known.Contains(k, StringComparer.Ordinal)) is { } unknown)
        {
            return (null, AuditorProblem.Invalid($"unknown query parameter '{Clip(unknown)}'; known: {string.Join(", ", known)}"));
        }

        var municipality = Value(query, "municipality");
        if (municipality is not null && (municipality.Length != 6 || !municipality.All(char.IsAsciiDigit)))
        {
            return (null, AuditorProblem.Invalid("municipality must be a 6-digit local government code"));
        }

        var (from, to, dateProblem) = ParseRange(query, required: false);
        if (dateProblem is not null)
        {
            return (null, dateProblem);
        }

        var cause = Value(query, "cause");
        if (cause is not null && RevocationRules.ParseCause(cause) is null)
        {
            return (null, AuditorProblem.Invalid("cause must be one of " + string.Join(", ", Enum.GetValues<RevocationCause>().Select(RevocationRules.WireName))));
        }

        var serial = Value(query, "serial")?.ToLowerInvariant();
        if (serial is not null && !IsSerial(serial))
        {
            return (null, AuditorProblem.Invalid("serial must be 1-40 hexadecimal digits"));
        }

        int? limit = export ? null : DefaultPageSize;
        if (Value(query, "limit") is { } limitText)
        {
            if (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) || parsed < 1 || (!export && parsed > MaxPageSize))
            {
                return (null, AuditorProblem.Invalid($"limit must be 1-{(export ? int.MaxValue : MaxPageSize)}"));
            }

            limit = parsed;
        }

        (long, string)? after = null;
        if (Value(query, "after") is { } afterText)
        {
            if (ParseCursor(afterText) is not { } cursor)
            {
                return (null, AuditorProblem.Invalid("after must be the 'next' value of a previous page"));
            }

            after = cursor;
        }

        return (new RevocationFilter { MunicipalityCode = municipality, From = from, To = to, Cause = cause, Serial = serial, Limit = limit, After = after }, null);
    }

    /// <summary>The keyset cursor of a row: <c>{revokedAtUs}.{serial}</c>.</summary>
    public static string Cursor(RevocationListRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        return row.RevokedAtUs.ToString(CultureInfo.InvariantCulture) + "." + row.Serial;
    }

    public static (long RevokedAtUs, string Serial)? ParseCursor(string text)
    {
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        return dot > 0
            && long.TryParse(text.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var us)
            && IsSerial(text[(dot + 1)..])
            ? (us, text[(dot + 1)..])
            : null;
    }

    public static bool IsSerial(string text) => text.Length is > 0 and <= 40 && text.All(char.IsAsciiHexDigitLower);

    /// <summary><c>from</c>/<c>to</c> as JST days (YYYY-MM-DD), inclusive; with <paramref name="required"/> false either may be absent.</summary>
    public static (DateOnly? From, DateOnly? To, AuditorProblem? Problem) ParseRange(IQueryCollection query, bool required)
    {
        ArgumentNullException.ThrowIfNull(query);
        DateOnly? from = null;
        DateOnly? to = null;
        foreach (var name in new[] { "from", "to" })
        {
            var text = Value(query, name);
            if (text is null)
            {
                continue;
            }

            if (!DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
            {
                return (null, null, AuditorProblem.Invalid($"{name} must be a date YYYY-MM-DD (JST)"));
            }

            if (name == "from")
            {
                from = date;
            }
            else
            {
                to = date;
            }
        }

        if (from is { } f && to is { } t && f > t)
        {
            return (null, null, AuditorProblem.Invalid("from must not be after to"));
        }

        return required && (from is null || to is null) ? (null, null, AuditorProblem.Invalid("from and to are required")) : (from, to, null);
    }

    /// <summary>A chart or report range: defaults to the 30 JST days ending today, at most <see cref="MaxChartDays"/>.</summary>
    public (DateOnly From, DateOnly To, AuditorProblem? Problem) ChartRange(IQueryCollection query)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Keys.FirstOrDefault(k => k is not ("from" or "to")) is { } unknown)
        {
            return (default, default, AuditorProblem.Invalid($"unknown query parameter '{Clip(unknown)}'; known: from, to"));
        }

        var (from, to, problem) = ParseRange(query, required: false);
        if (problem is not null)
        {
            return (default, default, problem);
        }

        var today = Jst.DateOf(services.Options.Time.GetUtcNow());
        var end = to ?? (from is { } f0 && f0.AddDays(29) < today ? f0.AddDays(29) : today);
        var start = from ?? end.AddDays(-29);
        if (start > end)
        {
            return (default, default, AuditorProblem.Invalid("from must not be after to"));
        }

        return end.DayNumber - start.DayNumber + 1 > MaxChartDays
            ? (default, default, AuditorProblem.Invalid($"at most {MaxChartDays} days at once"))
            : (start, end, null);
    }

    /// <summary>Appends an audit record of the auditor's query (in its own write transaction).</summary>
    public async Task AuditQueryAsync(Account auditor, string subject, JsonObject details, CancellationToken cancellationToken, string action = "audit.query")
    {
        ArgumentNullException.ThrowIfNull(auditor);
        using var tx = await services.Database.BeginWriteAsync(cancellationToken);
        services.Audit.Append(tx, new AuditRecord(auditor.Id, action, subject, details));
        await tx.CommitAsync(cancellationToken);
    }

    public static JsonObject FilterDetails(string query, RevocationFilter filter, string? format)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var details = new JsonObject { ["query"] = query };
        void Add(string name, string? value)
        {
            if (value is not null)
            {
                details[name] = value;
            }
        }

        Add("municipality", filter.MunicipalityCode);
        Add("from", filter.From is { } f ? Instant.ToDateText(f) : null);
        Add("to", filter.To is { } t ? Instant.ToDateText(t) : null);
        Add("cause", filter.Cause);
        Add("serial", filter.Serial);
        Add("after", filter.After is { } a ? a.RevokedAtUs.ToString(CultureInfo.InvariantCulture) + "." + a.Serial : null);
        Add("limit", filter.Limit?.ToString(CultureInfo.InvariantCulture));
        Add("format", format);
        return details;
    }

    /// <summary>The trail of <paramref name="serial"/>, audited; null when there is no such certificate.</summary>
    public async Task<(TrailAnswer? Trail, AuditorProblem? Problem)> TrailAsync(Account auditor, string serial, CancellationToken cancellationToken)
    {
        var normalised = serial.ToLowerInvariant();
        if (!IsSerial(normalised))
        {
            return (null, new AuditorProblem(404, ProblemTypes.CertificateNotFound, "no such certificate", "the CA issued no certificate with this serial"));
        }

        CertificateTrail? trail;
        await using (var db = await services.Database.OpenConnectionAsync(cancellationToken))
        {
            trail = RevocationTrailStore.Trail(db, normalised);
        }

        if (trail is null || trail.Certificate.Kind is not ("signing" or "authentication"))
        {
            // A miss changes nothing, like any refused query.
            return (null, new AuditorProblem(404, ProblemTypes.CertificateNotFound, "no such certificate", "the CA issued no end-entity certificate with this serial"));
        }

        await AuditQueryAsync(auditor, normalised, new JsonObject { ["query"] = "trail" }, cancellationToken);
        return (TrailAnswer.From(trail), null);
    }

    /// <summary>One page of revocations (the filter's limit), audited, with the cursor of the next page.</summary>
    public async Task<(IReadOnlyList<RevocationItem> Items, string? Next)> SearchPageAsync(Account auditor, RevocationFilter filter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        await AuditQueryAsync(auditor, "revocations", FilterDetails("revocations", filter, null), cancellationToken);
        var limit = filter.Limit ?? DefaultPageSize;
        await using var db = await services.Database.OpenConnectionAsync(cancellationToken);
        var rows = RevocationTrailStore.Search(db, filter with { Limit = limit + 1 }).ToList();
        var next = rows.Count > limit ? Cursor(rows[limit - 1]) : null;
        return (rows.Take(limit).Select(RevocationItem.From).ToList(), next);
    }

    public async Task<IReadOnlyList<DailyCauseCount>> RevocationsPerDayAsync(Account auditor, DateOnly from, DateOnly to, CancellationToken cancellationToken)
    {
        await AuditQueryAsync(auditor, "stats", RangeDetails("revocations-per-day", from, to), cancellationToken);
        await using var db = await services.Database.OpenConnectionAsync(cancellationToken);
        return RevocationTrailStore.RevocationsPerDay(db, from, to);
    }

    public async Task<IReadOnlyList<DailyFeedLag>> FeedLagAsync(Account auditor, DateOnly from, DateOnly to, CancellationToken cancellationToken)
    {
        await AuditQueryAsync(auditor, "stats", RangeDetails("feed-lag", from, to), cancellationToken);
        await using var db = await services.Database.OpenConnectionAsync(cancellationToken);
        return RevocationTrailStore.FeedLag(db, from, to);
    }

    /// <summary>
    /// Every read of the resident with this code. The code is checked, hashed with the HSM HMAC
    /// key exactly as the lookup does, and dropped: only the keyed hash is queried and audited.
    /// </summary>
    public async Task<(DisclosureAnswer? Answer, AuditorProblem? Problem)> DisclosureAsync(Account auditor, string? residentCode, CancellationToken cancellationToken)
    {
        if (!ResidentCode.TryParse(residentCode, out var code, out _))
        {
            return (null, AuditorProblem.Invalid("residentCode must be 11 digits with a valid check digit"));
        }

        var residentKey = services.ResidentKey(code);
        await using var db = await services.Database.OpenConnectionAsync(cancellationToken);
        var reads = AccessReportStore.ReadsOf(db, residentKey, CaServices.ResidentHmacKeyId);
        await AuditQueryAsync(
            auditor,
            "resident",
            new JsonObject
            {
                ["query"] = "disclosure",
                ["residentKey"] = Convert.ToHexStringLower(residentKey),
                ["hmacKeyId"] = CaServices.ResidentHmacKeyId,
                ["reads"] = reads.Count,
            },
            cancellationToken,
            action: "audit.disclosure");
        return (new DisclosureAnswer(CaServices.ResidentHmacKeyId, reads.Count, reads.Select(r => new DisclosureRead(r.Account, r.Purpose, r.Disclosed, Instant.FromMicros(r.TimeUs))).ToList()), null);
    }

    /// <summary>An account's reads, issuances, revocations and deliveries in the range; audited.</summary>
    public async Task<(ActivityAnswer? Answer, AuditorProblem? Problem)> ActivityAsync(Account auditor, string account, DateOnly from, DateOnly to, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(account);
        await using var db = await services.Database.OpenConnectionAsync(cancellationToken);
        var subject = account.Length <= 64 ? AccountStore.Find(db, account) : null;
        if (subject is null)
        {
            return (null, new AuditorProblem(404, ProblemTypes.AccountNotFound, "no such account", "no account with this id"));
        }

        await AuditQueryAsync(auditor, subject.Id, RangeDetails("operator-activity", from, to), cancellationToken);
        var fromUs = RevocationTrailStore.JstDayStartUs(from);
        var toUs = RevocationTrailStore.JstDayStartUs(to.AddDays(1));
        var reads = AccessReportStore.ReadsBy(db, subject.Id, fromUs, toUs);
        var acts = AccessReportStore.ActsBy(db, subject.Id, fromUs, toUs).Select(ActivityAct.From).ToList();
        return (new ActivityAnswer(
            subject.Id,
            AccountStore.RoleText(subject.Role),
            Instant.ToDateText(from),
            Instant.ToDateText(to),
            reads.Count,
            acts.Count(a => a.Action == "certificate.issued"),
            acts.Count(a => a.Action is "certificate.revoked" or "certificate.revocation-reason-changed"),
            reads.Select(r => new ActivityRead(r.Purpose, r.Disclosed, Instant.FromMicros(r.TimeUs))).ToList(),
            acts), null);
    }

    private static JsonObject RangeDetails(string query, DateOnly from, DateOnly to) =>
        new() { ["query"] = query, ["from"] = Instant.ToDateText(from), ["to"] = Instant.ToDateText(to) };

    private static string? Value(IQueryCollection query, string name) =>
        query.TryGetValue(name, out var values) && values.Count > 0 && !string.IsNullOrEmpty(values[^1]) ? values[^1] : null;

    private static string Clip(string text) => text.Length > 40 ? text[..40] : text;
}
