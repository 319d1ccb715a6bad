using System.Globalization;
using System.Text.Json;
using Jpki.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Jpki.JukiNet.Simulator;

/// <summary>
/// The simulated prefecture Juki-Net server as an ASP.NET Core minimal API (docs/design.md §9):
/// lookup and change feed as the contract says, plus simulator-only admin endpoints — residents,
/// changes, fault switches (<see cref="FeedFaults"/>) and the change generator
/// (<see cref="ChangeGenerator"/>). Every error is problem+json.
/// </summary>
public static class SimulatorApp
{
    public const int DefaultChangesLimit = 100;

    /// <summary>No credential anywhere: the simulator stands in for the registry on a test machine and listens on loopback.</summary>
    private static readonly ApiDocument ApiDocument = new()
    {
        Title = "Juki-Net simulator",
        Description = "The simulated prefecture Juki-Net server (docs/jukinet.md): the lookup and change feed of the contract, and simulator-only administration (residents, changes, fault switches, change generator). No credential.",
        // JukiNetJson leaves out null members: those are not required in the schemas.
        OmitsNullMembers = true,
    };

    /// <summary>
    /// Opens (and on first use populates) the database and builds the app; the caller starts it.
    /// With port 0 in <see cref="SimulatorSettings.Urls"/>, <c>app.Urls</c> holds the bound
    /// address once started. <paramref name="time"/> (default the system clock) drives the
    /// fault windows, the release of late events and the change generator.
    /// </summary>
    public static WebApplication Build(SimulatorSettings settings, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var store = new SimulatorStore(settings.DatabasePath);
        var generated = store.Initialize(settings.Residents, settings.Seed);

        // The shared start keeps hosting's request log quiet: lookup URLs hold resident codes.
        var builder = ServiceHost.CreateBuilder(new ListenOptions
        {
            Urls = settings.Urls,
            Service = "the Juki-Net simulator",
            MaxRequestBodyBytes = SimulatorSettings.MaxRequestBodyBytes,
        });
        // A body of another type is refused by routing (the endpoints declare their JSON bodies for the
        // OpenAPI document), before any handler: the problem still says what to send.
        builder.Services.AddProblemDetails(problems => problems.CustomizeProblemDetails = context =>
        {
            if (context.ProblemDetails.Status == StatusCodes.Status415UnsupportedMediaType)
            {
                context.ProblemDetails.Detail ??= "the body must be application/json";
            }
        });
        builder.Services.AddApiDocument(ApiDocument);
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(time ?? TimeProvider.System);
        builder.Services.AddSingleton(services => new FeedFaults(
            store, services.GetRequiredService<TimeProvider>(), services.GetRequiredService<ILogger<FeedFaults>>(), settings.Faults));
        builder.Services.AddSingleton(services => new ChangeGenerator(
            store, services.GetRequiredService<TimeProvider>(), services.GetRequiredService<ILogger<ChangeGenerator>>(), settings.Generator));
        builder.Services.AddHostedService(services => services.GetRequiredService<ChangeGenerator>());

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        if (generated)
        {
            app.Logger.LogInformation("generated {Residents} synthetic residents (seed {Seed}) in {Database}", settings.Residents, settings.Seed, settings.DatabasePath);
        }

        MapRegistry(app);
        MapSimulatorControls(app);
        return app;
    }

    /// <summary>What a real Juki-Net serves (the lookup and the change feed), the document and health, and adding residents and changes.</summary>
    private static void MapRegistry(WebApplication app)
    {
        app.MapApiDocument(ApiDocument);
        app.MapGet("/healthz", async (SimulatorStore db) =>
            Results.Json(new SimulatorHealthAnswer("ok", await db.CountResidentsAsync()), JukiNetJson.Options))
            .WithSummary("Status and the number of residents")
            .Produces<SimulatorHealthAnswer>();
        app.MapGet("/api/v1/residents/{code}", LookupAsync).AddEndpointFilter(ApplyRequestFaultsAsync)
            .WithSummary("One resident's record (the Juki-Net lookup of docs/decisions/0004)")
            .Produces<ResidentRecord>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        app.MapGet("/api/v1/changes", ChangesAsync).AddEndpointFilter(ApplyRequestFaultsAsync)
            .WithSummary("The change feed: events after `after`, at most `limit`")
            .Produces<ChangeFeedAnswer>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        app.MapPost("/api/v1/residents", CreateResidentAsync)
            .WithSummary("Simulator only: add a resident")
            .AcceptsJson<CreateResidentRequest>()
            .Produces<CreatedResident>(StatusCodes.Status201Created);
        app.MapPost("/api/v1/changes", CreateChangeAsync)
            .WithSummary("Simulator only: record a change (move, name change, death...)")
            .AcceptsJson<CreateChangeRequest>()
            .Produces<CreatedChange>(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
    }

    /// <summary>Simulator only: the fault switches and the change generator.</summary>
    private static void MapSimulatorControls(WebApplication app)
    {
        app.MapGet("/api/v1/faults", async (FeedFaults faults) => Results.Json(await faults.StateAsync(), JukiNetJson.Options))
            .WithSummary("Simulator only: the fault switches").Produces<FaultState>();
        app.MapPut("/api/v1/faults", SetFaultsAsync)
            .WithSummary("Simulator only: set the fault switches").AcceptsJson<FaultSettings>().Produces<FaultState>();
        app.MapDelete("/api/v1/faults", async (FeedFaults faults) => Results.Json(await faults.SetAsync(FaultSettings.Off), JukiNetJson.Options))
            .WithSummary("Simulator only: every fault switch off").Produces<FaultState>();
        app.MapGet("/api/v1/generator", (ChangeGenerator generator) => Results.Json(generator.Status, JukiNetJson.Options))
            .WithSummary("Simulator only: the change generator's run").Produces<GeneratorStatus>();
        app.MapPost("/api/v1/generator", StartGeneratorAsync)
            .WithSummary("Simulator only: start a generator run").AcceptsJson<GeneratorSettings>().Produces<GeneratorStatus>(StatusCodes.Status202Accepted);
        app.MapDelete("/api/v1/generator", async (ChangeGenerator generator) => Results.Json(await generator.StopRunAsync(), JukiNetJson.Options))
            .WithSummary("Simulator only: stop the generator run").Produces<GeneratorStatus>();
    }

    /// <summary>
    /// Outage and slowness for the lookup and the feed (not for the admin endpoints, so a test can
    /// always switch faults off): the answer, failing or not, comes <c>slowMs</c> late; during an
    /// outage it is a 503 problem or a dropped connection.
    /// </summary>
    private static async ValueTask<object?> ApplyRequestFaultsAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var fault = await http.RequestServices.GetRequiredService<FeedFaults>().BeginRequestAsync();
        if (fault.SlowMs > 0)
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(fault.SlowMs), http.RequestServices.GetRequiredService<TimeProvider>(), http.RequestAborted);
            }
            catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
            {
                // The caller gave up waiting (its timeout): nobody is left to answer.
                return Results.Empty;
            }
        }

        switch (fault.Outage)
        {
            case OutageKind.Abort:
                http.Abort();
                return Results.Empty;
            case OutageKind.Unavailable:
                http.Response.Headers.RetryAfter = "1";
                return Problem(StatusCodes.Status503ServiceUnavailable, "Juki-Net unavailable", "simulated outage (fault switch)");
            default:
                return await next(context);
        }
    }

    private static async Task<IResult> SetFaultsAsync(HttpRequest request, FeedFaults faults)
    {
        var (body, problem) = await ReadJsonAsync<FaultSettings>(request);
        if (body is null)
        {
            return problem!;
        }

        return body.Check() is { } error
            ? Problem(StatusCodes.Status400BadRequest, "invalid faults", error)
            : Results.Json(await faults.SetAsync(body), JukiNetJson.Options);
    }

    private static async Task<IResult> StartGeneratorAsync(HttpRequest request, ChangeGenerator generator)
    {
        var (body, problem) = await ReadJsonAsync<GeneratorSettings>(request);
        if (body is null)
        {
            return problem!;
        }

        return body.Check() is { } error
            ? Problem(StatusCodes.Status400BadRequest, "invalid generator settings", error)
            : Results.Json(await generator.StartRunAsync(body), JukiNetJson.Options, statusCode: StatusCodes.Status202Accepted);
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
    /// feed's highest sequence — or, with a page-rewriting fault switch on, the page as
    /// <see cref="FeedFaults"/> rewrites it (still at most <c>limit</c> entries).
    /// </summary>
    private static async Task<IResult> ChangesAsync(HttpRequest request, SimulatorStore store, FeedFaults faults)
    {
        if (!TryReadQueryNumber(request, "after", 0, out var after) || after < 0)
        {
            return Problem(StatusCodes.Status400BadRequest, "bad after", "after must be a non-negative integer sequence");
        }

        if (!TryReadQueryNumber(request, "limit", DefaultChangesLimit, out var limit) || limit is < 1 or > JukiNetClientOptions.MaxChangesPerRequest)
        {
            return Problem(StatusCodes.Status400BadRequest, "bad limit", $"limit must be 1-{JukiNetClientOptions.MaxChangesPerRequest}");
        }

        if (faults.RewritesPages)
        {
            return Results.Json(await faults.ServePageAsync(after, (int)limit, request.HttpContext.RequestAborted), JukiNetJson.Options);
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
        return Results.Json(new CreatedResident(code.Digits), JukiNetJson.Options, statusCode: StatusCodes.Status201Created);
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
                Results.Json(new CreatedChange(applied.Sequence), JukiNetJson.Options, statusCode: StatusCodes.Status201Created),
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

/// <summary>The answer of <c>POST /api/v1/residents</c>: the code the simulator assigned.</summary>
public sealed record CreatedResident(string ResidentCode);

/// <summary>The answer of <c>POST /api/v1/changes</c>: the change's place in the feed.</summary>
public sealed record CreatedChange(long Sequence);

/// <summary>The feed's answer: <c>{ changes: [...], last: n }</c>.</summary>
public sealed record ChangeFeedAnswer(IReadOnlyList<ChangeEvent> Changes, long Last);

/// <summary>The simulator's <c>GET /healthz</c>: a named schema in its OpenAPI document.</summary>
public sealed record SimulatorHealthAnswer(string Status, long Residents);
