using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Ca.Access;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Hosting;

namespace Jpki.Ca.Auditing;

/// <summary>
/// <c>/api/v1/audit/...</c>: read-only, auditor role only (officers act, auditors check them: an
/// officer gets 403 like any other role). Every query is itself audited by <see cref="AuditorReports"/>.
/// </summary>
public static class AuditorApi
{
    public sealed record DisclosureRequest(string? ResidentCode);

    public static void Map(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var group = app.MapGroup("/api/v1/audit").RequireAuthorization(AccessPolicy.Auditor);
        group.MapGet("/certificates/{serial}/trail", async (string serial, HttpContext context, AuditorReports reports) =>
        {
            var auditor = context.Caller();
            var (trail, refused) = await reports.TrailAsync(auditor, serial, context.RequestAborted);
            return trail is null ? refused!.ToResult() : Results.Json(trail, ApiJson.Options);
        })
            .WithSummary("A certificate's trail: issuance, revocation requests, the revocation, the CRLs and OCSP answers that showed it, latencies")
            .Produces<TrailAnswer>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/revocations", async (HttpContext context, AuditorReports reports) =>
        {
            return await RevocationsAsync(context, context.Caller(), reports);
        })
            .WithSummary("Search revocations (a page of JSON), or export every match with format=csv|json")
            .Produces<RevocationPageAnswer>()
            .ProducesBinary(StatusCodes.Status200OK, "text/csv", "a page as JSON (application/json), or with format=csv every match as CSV")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapGet("/stats/revocations-per-day", RevocationsPerDayAsync)
            .WithSummary("Revocations per JST day and cause (?from=&to=)")
            .Produces<RevocationsPerDayAnswer>()
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapGet("/stats/feed-lag", FeedLagAsync)
            .WithSummary("The Juki-Net feed's lag per JST day (?from=&to=)")
            .Produces<FeedLagAnswer>()
            .ProducesProblem(StatusCodes.Status400BadRequest);
        // The witness statement: the newest signed checkpoint as a self-describing file (not
        // audited: it holds nothing personal, and a record per poll would move the head the
        // auditor is trying to pin).
        group.MapGet("/checkpoints/latest", (CaServices services) =>
            AuditCheckpointDocument.Latest(services.Database) is { } latest
                ? Results.Bytes(latest.ToUtf8Bytes(), "application/json")
                : ProblemTypes.Problem(404, ProblemTypes.Prefix + "audit-no-checkpoint", "no checkpoint", "no audit checkpoint has been signed yet: run ./jpki hsm init"))
            .WithSummary("The newest signed audit checkpoint as a witness file")
            .Produces<CheckpointFileAnswer>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        // A POST so that the resident code never appears in a URL or an access log.
        group.MapPost("/disclosures", DisclosuresAsync)
            .WithSummary("Every read of a resident's facts and certificates (the code in the body, never a URL)")
            .AcceptsJson<DisclosureRequest>()
            .Produces<DisclosureAnswer>();
        group.MapGet("/operators/{account}/activity", ActivityAsync)
            .WithSummary("An operator's reads and acts in a JST date range (?from=&to=)")
            .Produces<ActivityAnswer>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
    }

    /// <summary><c>GET /api/v1/audit/stats/revocations-per-day</c>.</summary>
    private static async Task<IResult> RevocationsPerDayAsync(HttpContext context, AuditorReports reports)
    {
        var auditor = context.Caller();
        var (from, to, refused) = reports.ChartRange(context.Request.Query);
        if (refused is not null)
        {
            return refused.ToResult();
        }

        var counts = await reports.RevocationsPerDayAsync(auditor, from, to, context.RequestAborted);
        return Results.Json(RevocationsPerDayJson(from, to, counts), ApiJson.Options);
    }

    /// <summary><c>GET /api/v1/audit/stats/feed-lag</c>.</summary>
    private static async Task<IResult> FeedLagAsync(HttpContext context, AuditorReports reports)
    {
        var auditor = context.Caller();
        var (from, to, refused) = reports.ChartRange(context.Request.Query);
        if (refused is not null)
        {
            return refused.ToResult();
        }

        var days = await reports.FeedLagAsync(auditor, from, to, context.RequestAborted);
        return Results.Json(
            new FeedLagAnswer(
                Jpki.Core.Store.Instant.ToDateText(from),
                Jpki.Core.Store.Instant.ToDateText(to),
                [.. days.Select(d => new FeedLagDay(Jpki.Core.Store.Instant.ToDateText(d.Date), d.Events, d.P50Ms, d.P90Ms, d.P99Ms, d.MaxMs))]),
            ApiJson.Options);
    }

    /// <summary><c>POST /api/v1/audit/disclosures</c>.</summary>
    private static async Task<IResult> DisclosuresAsync(HttpContext context, AuditorReports reports)
    {
        var auditor = context.Caller();
        var (body, _, bad) = await ApiJson.ReadAsync<DisclosureRequest>(context.Request);
        if (body is null)
        {
            return bad!;
        }

        var (answer, refused) = await reports.DisclosureAsync(auditor, body.ResidentCode, context.RequestAborted);
        return answer is null ? refused!.ToResult() : Results.Json(answer, ApiJson.Options);
    }

    /// <summary><c>GET /api/v1/audit/operators/{account}/activity</c>.</summary>
    private static async Task<IResult> ActivityAsync(string account, HttpContext context, AuditorReports reports)
    {
        var auditor = context.Caller();
        var (from, to, refused) = reports.ChartRange(context.Request.Query);
        if (refused is not null)
        {
            return refused.ToResult();
        }

        var (answer, notFound) = await reports.ActivityAsync(auditor, account, from, to, context.RequestAborted);
        return answer is null ? notFound!.ToResult() : Results.Json(answer, ApiJson.Options);
    }

    public static RevocationsPerDayAnswer RevocationsPerDayJson(DateOnly from, DateOnly to, IReadOnlyList<DailyCauseCount> counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        return new RevocationsPerDayAnswer(
            Jpki.Core.Store.Instant.ToDateText(from),
            Jpki.Core.Store.Instant.ToDateText(to),
            [.. counts.GroupBy(c => c.Date).Select(g => new RevocationsOfDay(
                Jpki.Core.Store.Instant.ToDateText(g.Key),
                g.Sum(c => c.Count),
                g.ToDictionary(c => c.Cause, c => c.Count, StringComparer.Ordinal)))]);
    }

    /// <summary>A page (JSON), or with <c>format=csv|json</c> / <c>Accept: text/csv</c> a streamed export.</summary>
    public static async Task<IResult> RevocationsAsync(HttpContext context, Account auditor, AuditorReports reports)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(reports);
        var format = context.Request.Query["format"].LastOrDefault();
        if (format is null && context.Request.GetTypedHeaders().Accept.Any(a => a.MediaType.Equals("text/csv", StringComparison.OrdinalIgnoreCase)))
        {
            format = "csv";
        }

        if (format is not (null or "csv" or "json"))
        {
            return AuditorProblem.Invalid("format must be csv or json").ToResult();
        }

        var (filter, refused) = AuditorReports.ParseFilter(context.Request.Query, export: format is not null);
        if (filter is null)
        {
            return refused!.ToResult();
        }

        if (format is null)
        {
            var (items, next) = await reports.SearchPageAsync(auditor, filter, context.RequestAborted);
            return Results.Json(new RevocationPageAnswer(items, next), ApiJson.Options);
        }

        await reports.AuditQueryAsync(auditor, "revocations", AuditorReports.FilterDetails("revocations-export", filter, format), context.RequestAborted);
        return Export(reports, filter, format);
    }

    /// <summary>Streams every matching row (one unbuffered read) as CSV (RFC 4180) or a JSON array.</summary>
    public static IResult Export(AuditorReports reports, RevocationFilter filter, string format)
    {
        ArgumentNullException.ThrowIfNull(reports);
        var csv = format == "csv";
        return Results.Stream(
            async stream =>
            {
                await using var db = await reports.Services.Database.OpenConnectionAsync();
                var rows = RevocationTrailStore.Search(db, filter).Select(RevocationItem.From);
                if (csv)
                {
                    await WriteCsvAsync(stream, rows);
                }
                else
                {
                    await WriteJsonAsync(stream, rows);
                }
            },
            csv ? "text/csv; charset=utf-8" : "application/json; charset=utf-8",
            csv ? "revocations.csv" : "revocations.json");
    }

    private static async Task WriteCsvAsync(Stream stream, IEnumerable<RevocationItem> rows)
    {
        await using var writer = new StreamWriter(stream, new UTF8Encoding(false), 16 * 1024, leaveOpen: true) { NewLine = "\r\n" };
        await writer.WriteLineAsync(string.Join(",", RevocationItem.CsvHeader));
        var n = 0;
        foreach (var row in rows)
        {
            await writer.WriteLineAsync(string.Join(",", row.CsvFields().Select(CsvField)));
            if (++n % 500 == 0)
            {
                await writer.FlushAsync();
            }
        }
    }

    private static async Task WriteJsonAsync(Stream stream, IEnumerable<RevocationItem> rows)
    {
        // Row by row into a buffer, written asynchronously: Kestrel refuses synchronous writes.
        using var buffer = new MemoryStream();
        buffer.WriteByte((byte)'[');
        var first = true;
        foreach (var row in rows)
        {
            if (!first)
            {
                buffer.WriteByte((byte)',');
            }

            first = false;
            JsonSerializer.Serialize(buffer, row, ApiJson.Options);
            if (buffer.Length >= 32 * 1024)
            {
                await stream.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length));
                buffer.SetLength(0);
            }
        }

        buffer.WriteByte((byte)']');
        await stream.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length));
    }

    /// <summary>RFC 4180 quoting; a field that a spreadsheet would run as a formula gets a leading apostrophe.</summary>
    public static string CsvField(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "";
        }

        if (value[0] is '=' or '+' or '-' or '@')
        {
            value = "'" + value;
        }

        return value.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }
}

/// <summary>Revocations per JST day between <c>from</c> and <c>to</c>, by cause.</summary>
public sealed record RevocationsPerDayAnswer(string From, string To, IReadOnlyList<RevocationsOfDay> Days);

/// <summary>One day's revocations: the total and the count per cause.</summary>
public sealed record RevocationsOfDay(string Date, long Total, IReadOnlyDictionary<string, long> ByCause);

/// <summary>The Juki-Net feed's lag (event to applied revocation) per JST day: percentiles and maximum in milliseconds.</summary>
public sealed record FeedLagAnswer(string From, string To, IReadOnlyList<FeedLagDay> Days);

/// <summary>One day of the feed's lag.</summary>
public sealed record FeedLagDay(string Date, long Events, double P50Ms, double P90Ms, double P99Ms, double MaxMs);

/// <summary>A page of the revocation search; <c>next</c> is the cursor of the following page, absent on the last.</summary>
public sealed record RevocationPageAnswer(IReadOnlyList<RevocationItem> Items, string? Next);

/// <summary>
/// The shape of <c>GET /api/v1/audit/checkpoints/latest</c>, the witness file
/// (<see cref="AuditCheckpointDocument.ToUtf8Bytes"/> writes it as canonical JSON, which is what is
/// signed; this type only describes it, and ApiDocumentTests validates a real file against it).
/// </summary>
public sealed record CheckpointFileAnswer(string Format, JsonObject Checkpoint, IReadOnlyList<CheckpointCosignature> Cosignatures, IReadOnlyList<CheckpointFileKey> Keys, string Statement);

/// <summary>A cosignature of the checkpoint by another audit key.</summary>
public sealed record CheckpointCosignature(string KeyId, string Signature);

/// <summary>An audit key (SubjectPublicKeyInfo, base64) and, when it has one, its certificate and the certificate's SHA-256.</summary>
public sealed record CheckpointFileKey(string KeyId, string SubjectPublicKeyInfo, string? Certificate = null, string? CertificateSha256 = null);
