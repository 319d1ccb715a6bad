using System.Globalization;
using System.Text.RegularExpressions;
using Jpki.Core.Accounts;
using Jpki.Core.Configuration;
using Jpki.Core.Store;
using Jpki.Hosting;
using Jpki.Hsm;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Npgsql;
using Quartz;

namespace Jpki.CrlPublisher;

/// <summary>How a publisher process runs (tests set the listen address, clock and schedule).</summary>
public sealed record CrlHostOptions
{
    public required string ListenUrl { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Run the Quartz schedule (complete, delta, watch); tests publish by hand instead.</summary>
    public bool Schedule { get; init; } = true;

    /// <summary>Publish a complete CRL at start for every series that has none yet.</summary>
    public bool PublishMissingAtStart { get; init; } = true;

    public Action<string>? AfterWrite { get; init; }

    public Action<ILoggingBuilder>? ConfigureLogging { get; init; }

    /// <summary>How long a verifier lookup (token or client certificate) is remembered; zero: every request reads the store.</summary>
    public TimeSpan RememberVerifiersFor { get; init; } = TimeSpan.Zero;

    /// <summary>Where the clock's synchronisation status comes from; null: chrony or systemd-timesyncd. Tests pass a fake.</summary>
    public Jpki.Core.Clock.IClockSyncSource? ClockSource { get; init; }
}

/// <summary>
/// The CRL distribution service (port 8083): serves the published files at the docs/design.md §9 URLs
/// to registered verifiers with caching headers, runs the schedule, reports health.
/// </summary>
public static partial class CrlHost
{
    public const string ContentType = "application/pkix-crl";

    /// <summary>The Quartz scheduler every publisher of one store belongs to (the cluster's name in <c>qrtz_*</c>).</summary>
    public const string SchedulerName = "jpki-crl-publisher";

    private const string ServerErrorDetail = "an unexpected error occurred; nothing was published";

    public static WebApplication Build(JpkiSettings settings, Pkcs11Module module, CrlHostOptions options)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(options);
        var builder = ServiceHost.CreateBuilder(new ListenOptions
        {
            Urls = options.ListenUrl,
            Service = "the CRL publisher",
            MutualTls = settings.Crl.MutualTls is { } tls ? new MutualTlsListener(tls.Listen, tls.LoadServerCertificate(settings.Resolve)) : null,
            ConfigureLogging = logging =>
            {
                logging.AddFilter("Quartz", LogLevel.Warning);
                options.ConfigureLogging?.Invoke(logging);
            },
        });
        builder.Services.AddProblemAnswers(ServerErrorDetail);
        var document = new ApiDocument
        {
            Title = "JPKI CRL publisher",
            Description = "The published CRLs (complete, delta, ARL, per municipality) at the URLs of docs/design.md §9 (docs/crl-publisher.md), with ETag, Last-Modified and Cache-Control up to the CRL's nextUpdate. For registered verifiers only; a configured allowed network needs no credential.",
            Credentials = ApiCredentials.Bearer | (settings.Crl.MutualTls is null ? ApiCredentials.None : ApiCredentials.ClientCertificate),
        };
        builder.Services.AddApiDocument(document);
        AddServices(builder.Services, settings, module, options);
        if (options.Schedule)
        {
            AddSchedule(builder.Services, settings);
        }

        var app = builder.BuildAndOpen(app =>
        {
            var services = app.Services.GetRequiredService<CrlPublisherServices>();
            if (options.Schedule && services.Database.Dialect == StoreDialect.Postgres)
            {
                QuartzJobStoreSchema.Apply(services.Database);
            }

            if (options.PublishMissingAtStart)
            {
                services.Deferred.PublishMissing();
            }
        });

        MapEndpoints(app, document);
        return app;
    }

    /// <summary>The publisher's services, its metrics, and the loops that run beside the schedule: clock check, deferred publications, store registration, HSM watch.</summary>
    private static void AddServices(IServiceCollection services, JpkiSettings settings, Pkcs11Module module, CrlHostOptions options)
    {
        services.AddServiceMetrics("jpki-crl-publisher", CrlMetrics.MeterName);
        services.AddSingleton<CrlMetrics>();
        services.AddSingleton(provider =>
        {
            var metrics = provider.GetRequiredService<CrlMetrics>();
            return CrlPublisherServices.Open(settings, module, options.Time, provider.GetRequiredService<ILoggerFactory>(), options.AfterWrite, options.ClockSource, metrics.Record);
        });
        // The clock is read every clock.checkEverySeconds; publications it refused are retried when it passes.
        // AddSingleton, not AddHostedService: that one keeps a single registration per implementation type (BackgroundLoop).
        services.AddSingleton<IHostedService>(provider => new BackgroundLoop(provider.GetRequiredService<CrlPublisherServices>().Clock.RunAsync));
        services.AddSingleton<IHostedService>(provider => new BackgroundLoop(provider.GetRequiredService<CrlPublisherServices>().Deferred.RunAsync));
        // This instance's store_clients row and heartbeat (the one-shot ./jpki crl publish registers none);
        // finding the schema contracted past this code stops the publisher, exit 7 (decision 0530).
        services.AddSingleton<IHostedService>(provider =>
        {
            var registration = StoreClientRegistration.Register(
                provider.GetRequiredService<CrlPublisherServices>().Database,
                "crl-publisher",
                MigrationSet.Embedded,
                provider.GetRequiredService<ILogger<StoreClientRegistration>>());
            registration.Refused += _ => provider.StopWithExitCode(SchemaUpgradeRefusedException.RefusedExitCode);
            return new BackgroundLoop(registration.RunAsync);
        });
        // The HSM watch re-initialises a module that lost its token and audits the outage; when the
        // module cannot be re-initialised in process, the publisher exits for its supervisor to restart it.
        services.AddSingleton<IHostedService>(provider =>
        {
            var watch = provider.GetRequiredService<CrlPublisherServices>().HsmWatch;
            watch.Unrecoverable += _ => provider.StopWithExitCode(Jpki.Core.HsmFaults.HsmOutageWatch.RestartExitCode);
            return new BackgroundLoop(watch.RunAsync);
        });
        services.AddSingleton(provider => new VerifierAccessPolicy(
            provider.GetRequiredService<CrlPublisherServices>().Database,
            VerifierAccessPolicy.ParseNetworks(settings.Crl.AllowedNetworks),
            options.Time,
            options.RememberVerifiersFor));
    }

    private static void MapEndpoints(WebApplication app, ApiDocument document)
    {
        app.UseProblemAnswers(ServerErrorDetail, Jpki.Core.Store.StoreFaults.IsOutOfSpace, error => app.Services.GetRequiredService<CrlPublisherServices>().Database.ConnectionLost(error));
        app.MapGet("/healthz", Health).WithSummary("Detailed status for people: stale CRLs, HSM, clock, audit witness").Produces<CrlHealthAnswer>();
        app.MapReadiness(CrlReadiness.CheckAsync);
        app.MapServiceMetrics();
        app.MapApiDocument(document);
        app.MapGet("/crl/{issuerKeyId}/{file}", (string issuerKeyId, string file, HttpContext context, CrlPublisherServices services, VerifierAccessPolicy policy) =>
            ServeAsync(context, services, policy, issuerKeyId, file, municipality: false))
            .WithSummary("The newest complete CRL (full.crl), delta CRL (delta.crl) or ARL (arl.crl) of an issuer key")
            .DescribeCrl();
        app.MapGet("/crl/{issuerKeyId}/m/{file}", (string issuerKeyId, string file, HttpContext context, CrlPublisherServices services, VerifierAccessPolicy policy) =>
            ServeAsync(context, services, policy, issuerKeyId, file, municipality: true))
            .WithSummary("The newest CRL of one municipality's certificates: {code}.crl or {code}-delta.crl")
            .DescribeCrl();
    }

    /// <summary>
    /// <c>GET /healthz</c> (always 200): <c>degraded</c> when a CRL nears its nextUpdate with nothing
    /// newer, the HSM pool is unhealthy, the audit witness fails, or the clock check refuses or warns
    /// (docs/clock.md); <c>clockDeferred</c>: a publication the clock refused waits for it.
    /// </summary>
    public static async Task<IResult> Health(CrlPublisherServices services, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(services);
        // Which database node this instance's connections reach (./jpki cluster status); null: the store does not answer.
        var storeNode = await StoreNode.OfAsync(services.Database, cancellationToken);
        var stale = CrlHealth.Stale(services.Database);
        var witness = services.AuditRuntime.Witness?.Status;
        var clock = services.Clock.Current;
        return Results.Json(new CrlHealthAnswer(
            stale.Count == 0 && services.Pool.Health.Status == HsmHealthStatus.Healthy && services.HsmWatch.Ok && (witness?.Healthy ?? true) && clock.Status == "ok" ? "ok" : "degraded",
            services.Pool.Health.Status.ToString(),
            services.HsmWatch.Health,
            storeNode,
            clock.Health(),
            services.Deferred.Pending,
            [.. stale.Select(s => new StaleCrlAnswer(s.Crl.IssuerKeyId, s.Crl.Scope, s.Crl.Kind, s.Crl.Number, s.Deadline))],
            witness is null ? null : new CrlWitnessHealth(witness.Healthy ? "ok" : "failing", witness.Target, witness.WitnessedSeq, witness.WitnessedAt, witness.ConsecutiveFailures, witness.LastError, witness.FailingSince)));
    }

    /// <summary>
    /// The Quartz schedule. On SQLite (one publisher per machine) the in-memory job store. On
    /// PostgreSQL the clustered ADO.NET job store in the same database: every publisher sharing the
    /// store is a node of one scheduler (<see cref="SchedulerName"/>), each with its own instance id,
    /// and each firing runs on one node. Correctness never depends on it: the store's lock and
    /// numbering decide what is published. The connection string is handed to Quartz, never logged.
    /// </summary>
    private static void AddSchedule(IServiceCollection services, JpkiSettings settings)
    {
        var schedule = CrlSchedule.From(settings.Crl);
        var connectionString = settings.ConnectionString;
        var clustered = !Database.IsSqlite(connectionString);
        services.AddSingleton(schedule);
        services.AddTransient<CompleteCrlJob>();
        services.AddTransient<DeltaCrlJob>();
        services.AddTransient<CrlWatchJob>();
        services.AddQuartz(quartz =>
        {
            quartz.ConfigureScheduler(scheduler =>
            {
                scheduler.InstanceName = SchedulerName;
                scheduler.IdleWaitTime = schedule.IdleWait;
                if (clustered)
                {
                    // Unique per process, also for two hosts in one process (tests).
                    scheduler.InstanceId = $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";
                }
            });
            if (clustered)
            {
                quartz.UsePersistentStore(store =>
                {
                    store.UsePostgres(NpgsqlFactory.Instance, connectionString);
                    store.UseClustering();
                    store.UseSystemTextJsonSerializer();
                });
            }
            else
            {
                quartz.UseInMemoryStore();
            }
        });
        services.AddHostedService<CrlSigningKeyRefresh>();
        services.AddHostedService(provider => new BackgroundLoop(provider.GetRequiredService<CrlPublisherServices>().AuditRuntime.RunAsync));
        // Registered before Quartz's hosted service: the schedule is in the job store before the scheduler starts firing.
        services.AddHostedService<CrlScheduleInstaller>();
        services.AddQuartzHostedService(quartz => quartz.WaitForJobsToComplete = true);
    }

    /// <summary>Publishes a complete CRL of every series that has never had one (first start, a new municipality).</summary>
    public static IReadOnlyList<PublishedCrl> PublishMissing(SeriesPublisher publisher)
    {
        ArgumentNullException.ThrowIfNull(publisher);
        var published = new List<PublishedCrl>();
        foreach (var series in publisher.AllSeries())
        {
            try
            {
                if (!File.Exists(publisher.PathOf(series, delta: false)) && publisher.Publish(series, delta: false, scheduled: false) is { } crl)
                {
                    published.Add(crl);
                }
            }
            catch (CrlSupersededException)
            {
                // Another publisher starting at the same moment published the series first (decision 0531): nothing to do.
            }
        }

        return published;
    }

    private static async Task<IResult> ServeAsync(HttpContext context, CrlPublisherServices services, VerifierAccessPolicy policy, string issuerKeyId, string file, bool municipality)
    {
        if (await policy.AuthorizeAsync(context.Request.Headers.Authorization.ToString(), context.Connection.ClientCertificate, context.Connection.RemoteIpAddress, context.RequestAborted) is null)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            return Results.Problem(
                statusCode: StatusCodes.Status401Unauthorized,
                type: "urn:jpki:problem:unauthenticated",
                title: "authentication required",
                detail: "CRLs are for registered verifiers: send Authorization: Bearer <verifier token> or a registered client certificate");
        }

        if (Resolve(issuerKeyId, file, municipality) is not { } target || !services.Publisher.IssuerKeys.ContainsKey(issuerKeyId))
        {
            return NotFound();
        }

        // Opened once: the headers and the body come from the same file even if a newer one is renamed in meanwhile.
        if (OpenPublished(services.Publisher.PathOf(target.Series, target.Delta)) is not { } stream)
        {
            return NotFound();
        }

        try
        {
            CrlPreamble preamble;
            using (var reader = new CrlFileReader(stream))
            {
                preamble = reader.ReadPreamble();
            }

            stream.Position = 0;
            var modified = File.GetLastWriteTimeUtc(stream.SafeFileHandle);
            var etag = new EntityTagHeaderValue($"\"{modified.Ticks:x}-{stream.Length:x}\"");
            var now = services.Database.Time.GetUtcNow();
            var maxAge = preamble.NextUpdate is { } next && next > now ? (long)(next - now).TotalSeconds : 0;
            var headers = context.Response.Headers;
            headers.ETag = etag.ToString();
            headers.LastModified = preamble.ThisUpdate.ToString("R", CultureInfo.InvariantCulture);
            headers.CacheControl = $"max-age={maxAge}, no-transform";
            var ifNoneMatch = context.Request.Headers.IfNoneMatch.ToString();
            if (ifNoneMatch.Length > 0 && (ifNoneMatch == "*" || ifNoneMatch.Split(',').Any(t => t.Trim() == etag.Tag.ToString())))
            {
                await stream.DisposeAsync();
                return Results.StatusCode(StatusCodes.Status304NotModified);
            }

            return Results.Stream(stream, ContentType);
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }
    }

    /// <summary>The published file, or null when it is not there (nothing published yet).</summary>
    private static FileStream? OpenPublished(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 64 * 1024);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>What both CRL routes answer, in the OpenAPI document.</summary>
    private static RouteHandlerBuilder DescribeCrl(this RouteHandlerBuilder builder) => builder
        .RequiresCredential()
        .ProducesBinary(StatusCodes.Status200OK, ContentType, "the DER CRL, as published")
        .ProducesNoBody(StatusCodes.Status304NotModified, "If-None-Match named the current ETag")
        .ProducesProblem(StatusCodes.Status401Unauthorized)
        .ProducesProblem(StatusCodes.Status404NotFound);

    private static IResult NotFound() =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, type: "urn:jpki:problem:not-found", title: "no such CRL");

    private static (CrlSeries Series, bool Delta)? Resolve(string issuerKeyId, string file, bool municipality)
    {
        if (!IssuerKeyIdPattern().IsMatch(issuerKeyId))
        {
            return null;
        }

        if (municipality)
        {
            var match = MunicipalityFilePattern().Match(file);
            return match.Success ? (new CrlSeries(issuerKeyId, CrlScopeKind.Municipality, match.Groups[1].Value), match.Groups[2].Success) : null;
        }

        return file switch
        {
            "full.crl" => (new CrlSeries(issuerKeyId, CrlScopeKind.Full), false),
            "delta.crl" => (new CrlSeries(issuerKeyId, CrlScopeKind.Full), true),
            "arl.crl" => (new CrlSeries(issuerKeyId, CrlScopeKind.Arl), false),
            _ => null,
        };
    }

    [GeneratedRegex("^[a-z0-9-]{1,100}$")]
    private static partial Regex IssuerKeyIdPattern();

    [GeneratedRegex("^([0-9]{6})(-delta)?\\.crl$")]
    private static partial Regex MunicipalityFilePattern();
}
