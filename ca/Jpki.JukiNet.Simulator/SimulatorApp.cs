using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Jpki.JukiNet.Simulator;

/// <summary>
/// The simulated prefecture Juki-Net server as an ASP.NET Core minimal API (DESIGN.md §9):
/// lookup and change feed as the contract says, plus simulator-only admin endpoints.
/// Every error is problem+json.
/// </summary>
public static class SimulatorApp
{
    public const int DefaultChangesLimit = 100;

    /// <summary>
    /// Opens (and on first use populates) the database and builds the app; the caller starts it.
    /// With port 0 in <see cref="SimulatorSettings.Urls"/>, <c>app.Urls</c> holds the bound
    /// address once started.
    /// </summary>
    public static WebApplication Build(SimulatorSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var store = new SimulatorStore(settings.DatabasePath);
        var generated = store.Initialize(settings.Residents, settings.Seed);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseUrls(settings.Urls);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = SimulatorSettings.MaxRequestBodyBytes);
        // Hosting's request log writes full URLs, and lookup URLs hold resident codes.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Services.AddProblemDetails();
        builder.Services.AddSingleton(store);

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        if (generated)
        {
            app.Logger.LogInformation("generated {Residents} synthetic residents (seed {Seed}) in {Database}", settings.Residents, settings.Seed, settings.DatabasePath);
        }

        app.MapGet("/healthz", async (SimulatorStore db) =>
            Results.Json(new { status = "ok", residents = await db.CountResidentsAsync() }, JukiNetJson.Options));
        app.MapGet("/api/v1/residents/{code}", LookupAsync);
        app.MapGet("/api/v1/changes", ChangesAsync);
        app.MapPost("/api/v1/residents", CreateResidentAsync);
        app.MapPost("/api/v1/changes", CreateChangeAsync);
        return app;
    }

    private static async Task<IResult> LookupAsync(string code, SimulatorStore store)
    {
        if (!ResidentCode.TryParse(code, out var residentCode, out var error))
        {
            return Problem(StatusCodes.Status400BadRequest, "malformed resident code", error);
        }

        var record = await store.FindResidentAsync(residentCode);
        return record is null
            ? Problem(StatusCodes.Status404NotFound, "no such resident", "the registry holds no record for this code", JukiNetJson.ResidentNotFoundProblemType)
            : Results.Json(record, JukiNetJson.Options);
    }

    /// <summary>
    /// The feed: events after <c>after</c>, at most <c>limit</c>, in sequence order, and the
    /// feed's highest sequence. Fault switches (issue 5: duplicates, gaps, reordering, malformed
    /// entries, outage, slow answers) belong between the store read and the answer: the page is
    /// built as a list of events first, so a switch can rewrite it before it is written out.
    /// </summary>
    private static async Task<IResult> ChangesAsync(HttpRequest request, SimulatorStore store)
    {
        if (!TryReadQueryNumber(request, "after", 0, out var after) || after < 0)
        {
            return Problem(StatusCodes.Status400BadRequest, "bad after", "after must be a non-negative integer sequence");
        }

        if (!TryReadQueryNumber(request, "limit", DefaultChangesLimit, out var limit) || limit is < 1 or > JukiNetClientOptions.MaxChangesPerRequest)
        {
            return Problem(StatusCodes.Status400BadRequest, "bad limit", $"limit must be 1-{JukiNetClientOptions.MaxChangesPerRequest}");
        }

        var (changes, last) = await store.ReadChangesAsync(after, (int)limit);
        return Results.Json(new ChangeFeedAnswer(changes, last), JukiNetJson.Options);
    }

    private static async Task<IResult> CreateResidentAsync(HttpRequest request, SimulatorStore store)
    {
        var (body, problem) = await ReadJsonAsync<CreateResidentRequest>(request);
        if (body is null)
        {
            return problem!;
        }

        var (template, error) = body.Check();
        if (template is null)
        {
            return Problem(StatusCodes.Status400BadRequest, "invalid resident", error);
        }

        var code = await store.AddResidentAsync(assigned => template with { ResidentCode = assigned });
        return Results.Json(new { residentCode = code.Digits }, JukiNetJson.Options, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> CreateChangeAsync(HttpRequest request, SimulatorStore store)
    {
        var (body, problem) = await ReadJsonAsync<CreateChangeRequest>(request);
        if (body is null)
        {
            return problem!;
        }

        var (code, type, effectiveDate, dateOfBirth, error) = body.CheckShape();
        if (code is null)
        {
            return Problem(StatusCodes.Status400BadRequest, "invalid change", error);
        }

        var outcome = await store.ApplyChangeAsync(code, current => ChangeRules.Decide(body, code, type, effectiveDate, dateOfBirth, current));
        return outcome switch
        {
            ChangeOutcome.Applied applied =>
                Results.Json(new { sequence = applied.Sequence }, JukiNetJson.Options, statusCode: StatusCodes.Status201Created),
            ChangeOutcome.Refused { Conflict: true } refused =>
                Problem(StatusCodes.Status409Conflict, "change refused", refused.Reason),
            ChangeOutcome.Refused refused =>
                Problem(StatusCodes.Status400BadRequest, "invalid change", refused.Reason),
            _ => Problem(StatusCodes.Status404NotFound, "no such resident", "the registry holds no record for this code", JukiNetJson.ResidentNotFoundProblemType),
        };
    }

    private static async Task<(T? Body, IResult? Problem)> ReadJsonAsync<T>(HttpRequest request)
        where T : class
    {
        if (!request.HasJsonContentType())
        {
            return (null, Problem(StatusCodes.Status415UnsupportedMediaType, "unsupported media type", "the body must be application/json"));
        }

        try
        {
            var body = await JsonSerializer.DeserializeAsync<T>(request.Body, JukiNetJson.Options, request.HttpContext.RequestAborted);
            return body is null
                ? (null, Problem(StatusCodes.Status400BadRequest, "malformed body", "the body must be a JSON object"))
                : (body, null);
        }
        catch (JsonException e)
        {
            return (null, Problem(StatusCodes.Status400BadRequest, "malformed body", e.Message));
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, Problem(e.StatusCode, "body too large", $"the body must be at most {SimulatorSettings.MaxRequestBodyBytes} bytes"));
        }
    }

    private static bool TryReadQueryNumber(HttpRequest request, string name, long fallback, out long value)
    {
        var text = request.Query[name];
        if (text.Count == 0)
        {
            value = fallback;
            return true;
        }

        return long.TryParse(text.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    private static ProblemHttpResult Problem(int status, string title, string? detail, string? type = null) =>
        TypedResults.Problem(detail: detail, statusCode: status, title: title, type: type);
}

/// <summary>The feed's answer: <c>{ changes: [...], last: n }</c>.</summary>
public sealed record ChangeFeedAnswer(IReadOnlyList<ChangeEvent> Changes, long Last);
