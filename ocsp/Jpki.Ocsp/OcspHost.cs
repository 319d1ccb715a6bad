using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Configuration;
using Jpki.Core.HsmFaults;
using Jpki.Core.Issuers;
using Jpki.Core.Store;
using Jpki.Hosting;
using Jpki.Hsm;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Jpki.Ocsp;

/// <summary>The media types of RFC 6960 appendix A.</summary>
public static class OcspMediaTypes
{
    public const string Request = "application/ocsp-request";

    public const string Response = "application/ocsp-response";
}

/// <summary>How one responder process runs; the rest comes from <c>jpki.json</c> (<c>ocsp.*</c>).</summary>
public sealed record OcspOptions
{
    public required string ListenUrl { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How long a verifier token lookup is remembered (disabling a verifier takes effect within it).</summary>
    public TimeSpan RememberTokensFor { get; init; } = TimeSpan.FromSeconds(5);

    public Action<ILoggingBuilder>? ConfigureLogging { get; init; }
}

/// <summary>
/// Builds the OCSP responder (port 8082): one responder for every issuer key of the install,
/// with its own HSM session pool ('ocsp'), reading the shared store. OCSP answers are signed
/// objects served over plain HTTP (RFC 5019), so any listen address is allowed.
/// </summary>
public static class OcspHost
{
    private const string ServerErrorDetail = "an unexpected error occurred; no OCSP answer was made";

    public static WebApplication Build(JpkiSettings settings, Pkcs11Module module, OcspOptions options)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(options);
        var ocsp = settings.Ocsp;
        var networks = VerifierAccessPolicy.ParseNetworks(ocsp.AllowedNetworks);
        var timings = new OcspTimings
        {
            Validity = TimeSpan.FromMinutes(ocsp.ValidityMinutes),
            ServeMargin = TimeSpan.FromSeconds(ocsp.ServeUntilSecondsBeforeNextUpdate),
            RefreshAhead = TimeSpan.FromSeconds(ocsp.RefreshSecondsBeforeNextUpdate),
            RecentlyQueried = TimeSpan.FromMinutes(ocsp.RefreshRecentlyQueriedMinutes),
            StatusPoll = TimeSpan.FromMilliseconds(ocsp.StatusPollMilliseconds),
        };

        var builder = ServiceHost.CreateBuilder(new ListenOptions
        {
            Urls = options.ListenUrl,
            Service = "the OCSP responder",
            MutualTls = ocsp.MutualTls is { } tls ? new MutualTlsListener(tls.Listen, tls.LoadServerCertificate(settings.Resolve)) : null,
            MaxRequestBodyBytes = ocsp.MaxRequestBytes,
            ConfigureLogging = options.ConfigureLogging,
        });

        var time = options.Time;
        builder.Services.AddSingleton(timings);
        builder.Services.AddSingleton(time);
        AddSources(builder.Services, settings, module, timings, time);
        AddEndpoint(builder.Services, settings, networks, timings, time, options.RememberTokensFor);
        AddWatches(builder.Services);
        builder.Services.AddProblemAnswers(ServerErrorDetail);
        var document = new ApiDocument
        {
            Title = "JPKI OCSP responder",
            Description = "RFC 6960 / RFC 5019 OCSP for every issuer key of the install (docs/ocsp.md). For registered verifiers only: a refused query is the OCSP answer unauthorized (HTTP 200), not a 401; a configured allowed network needs no credential.",
            Credentials = ApiCredentials.Bearer | (ocsp.MutualTls is null ? ApiCredentials.None : ApiCredentials.ClientCertificate),
        };
        builder.Services.AddApiDocument(document);
        var app = builder.BuildAndOpen(app => app.Services.GetRequiredService<OcspServices>());
        // Plain HTTP errors (an unknown path, a wrong method, a body over the limit) as problem+json;
        // OCSP answers, refusals included, stay application/ocsp-response with HTTP 200 (RFC 6960).
        app.UseProblemAnswers(ServerErrorDetail);

        MapEndpoints(app, document, settings);
        return app;
    }

    /// <summary>The answer sources: the store, the signing source behind the cache, and their metrics.</summary>
    private static void AddSources(IServiceCollection services, JpkiSettings settings, Pkcs11Module module, OcspTimings timings, TimeProvider time)
    {
        var ocsp = settings.Ocsp;
        services.AddSingleton(provider => OcspServices.Open(settings, module, time, provider.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton(provider => provider.GetRequiredService<OcspServices>().Database);
        services.AddSingleton(provider => provider.GetRequiredService<OcspServices>().Directory);
        services.AddSingleton(provider => provider.GetRequiredService<OcspServices>().Signatures);
        services.AddSingleton<FirstRevokedRecorder>();
        services.AddSingleton(provider => new SigningSource(
            provider.GetRequiredService<Database>(),
            new OcspResponseWriter(timings.Validity),
            new RateBudget(ocsp.UnknownSignaturesBurst, ocsp.UnknownSignaturesPerMinute, time),
            time));
        services.AddSingleton(provider => new CachingSource(
            provider.GetRequiredService<SigningSource>(),
            provider.GetRequiredService<IssuerDirectory>(),
            provider.GetRequiredService<FirstRevokedRecorder>(),
            time,
            timings.ServeMargin,
            AnswerCacheBudget.From(ocsp.CacheMegabytes, ocsp.MaxCachedAnswers),
            hit => provider.GetRequiredService<OcspMetrics>().CacheLookup(hit)));
        services.AddServiceMetrics("jpki-ocsp", OcspMetrics.MeterName);
        services.AddSingleton(provider => new OcspMetrics(
            provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            provider.GetRequiredService<SignatureCounter>(),
            provider.GetRequiredService<CachingSource>));
    }

    /// <summary>The endpoint and what it writes to: the verifier policy, the query log (and its archive), the status-change watcher.</summary>
    private static void AddEndpoint(IServiceCollection services, JpkiSettings settings, IReadOnlyList<System.Net.IPNetwork> networks, OcspTimings timings, TimeProvider time, TimeSpan rememberTokensFor)
    {
        var ocsp = settings.Ocsp;
        services.AddSingleton(provider => new VerifierAccessPolicy(provider.GetRequiredService<Database>(), networks, time, rememberTokensFor));
        services.AddSingleton(provider => new OcspLogWriter(
            provider.GetRequiredService<Database>(),
            provider.GetRequiredService<FirstRevokedRecorder>(),
            () => provider.GetRequiredService<OcspServices>().Audit,
            provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            time,
            provider.GetRequiredService<ILogger<OcspLogWriter>>()));
        services.AddSingleton<OcspRefusals>();
        services.AddHostedService(provider => provider.GetRequiredService<OcspLogWriter>());
        AddArchive(services, settings, time);
        services.AddSingleton<StatusChangeWatcher>();
        services.AddHostedService(provider => provider.GetRequiredService<StatusChangeWatcher>());
        services.AddSingleton(provider => new OcspEndpoint(
            provider.GetRequiredService<VerifierAccessPolicy>(),
            provider.GetRequiredService<IssuerDirectory>(),
            provider.GetRequiredService<CachingSource>(),
            provider.GetRequiredService<SigningSource>(),
            new RateBudget(ocsp.NonceSignaturesBurst, ocsp.NonceSignaturesPerMinute, time),
            provider.GetRequiredService<OcspLogWriter>(),
            provider.GetRequiredService<OcspRefusals>(),
            provider.GetRequiredService<OcspMetrics>(),
            timings,
            ocsp.MaxRequestBytes,
            time,
            provider.GetRequiredService<ILogger<OcspEndpoint>>()));

    }

    /// <summary>The HSM watch and this instance's store registration, each able to stop the responder with its exit code.</summary>
    private static void AddWatches(IServiceCollection services)
    {
        // Opened now: a missing ceremony or a wrong PIN fails the start, not the first query.
        // The HSM watch re-initialises a module that lost its token and audits the outage; when the
        // module cannot be re-initialised in process, the responder exits for its supervisor to restart it.
        services.AddSingleton<IHostedService>(provider =>
        {
            var watch = provider.GetRequiredService<OcspServices>().HsmWatch;
            watch.Unrecoverable += _ => provider.StopWithExitCode(HsmOutageWatch.RestartExitCode);
            return new BackgroundLoop(watch.RunAsync);
        });

        // This instance's store_clients heartbeat; finding the schema contracted past this code stops the responder, exit 7 (decision 0530).
        services.AddSingleton<IHostedService>(provider =>
        {
            var registration = provider.GetRequiredService<OcspServices>().StoreClient;
            registration.Refused += _ => provider.StopWithExitCode(SchemaUpgradeRefusedException.RefusedExitCode);
            return new BackgroundLoop(registration.RunAsync);
        });
    }

    private static void MapEndpoints(WebApplication app, ApiDocument document, JpkiSettings settings)
    {
        app.MapServiceMetrics();
        app.MapApiDocument(document);
        app.MapPost("/ocsp", (HttpContext context, OcspEndpoint endpoint) => endpoint.PostAsync(context))
            .WithSummary("An OCSP request in the body (RFC 6960 appendix A.1)")
            .RequiresCredential()
            .AcceptsBinary(OcspMediaTypes.Request, "a DER OCSPRequest for one certificate")
            .ProducesBinary(StatusCodes.Status200OK, OcspMediaTypes.Response, "a DER OCSPResponse: successful (signed by the issuer key's delegated responder), or malformedRequest, unauthorized, tryLater")
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        app.MapGet("/ocsp/{**encoded}", (HttpContext context, OcspEndpoint endpoint) => endpoint.GetAsync(context))
            .WithSummary("An OCSP request in the URL, base64 then URL-encoded (RFC 5019 §5)")
            .WithPathParameter("encoded", "the DER OCSPRequest, base64 then URL-encoded")
            .RequiresCredential()
            .ProducesBinary(StatusCodes.Status200OK, OcspMediaTypes.Response, "a DER OCSPResponse, cacheable until its nextUpdate");
        app.MapReadiness(OcspReadiness.CheckAsync);
        app.MapGet("/healthz", (OcspServices services, CachingSource cache, StatusChangeWatcher watcher, OcspLogWriter log, OcspRefusals refusals, IServiceProvider provider, CancellationToken cancellationToken) =>
                HealthAsync(new HealthParts(services, cache, watcher, log, refusals, provider), settings, cancellationToken))
            .WithSummary("Detailed status for people: HSM, issuer keys, cache, status notifications, query log (degraded and counting dropped rows while the store's disk is full), archive")
            .Produces<OcspHealthAnswer>()
            .Produces<OcspHealthAnswer>(StatusCodes.Status503ServiceUnavailable);
    }

    /// <summary>What <c>/healthz</c> reads, as the endpoint is given it.</summary>
    private sealed record HealthParts(OcspServices Services, CachingSource Cache, StatusChangeWatcher Watcher, OcspLogWriter Log, OcspRefusals Refusals, IServiceProvider Provider);

    private static async Task<IResult> HealthAsync(HealthParts parts, JpkiSettings settings, CancellationToken cancellationToken)
    {
        var (services, cache, watcher, log, refusals, provider) = parts;
        var ocsp = settings.Ocsp;
        // Which database node this instance's connections reach (./jpki cluster status); null: the store does not answer.
        var storeNode = await StoreNode.OfAsync(services.Database, cancellationToken);
        var hsm = services.Pool.Health;
        // A query log that cannot write (a full disk, decision 0810) degrades the responder, whose answers still go out.
        var queryLog = log.Status;
        // A store that cannot be read (a restart, a failover) degrades it too: cached answers still go out, new ones say tryLater.
        var healthy = hsm.Status == HsmHealthStatus.Healthy && services.HsmWatch.Ok && services.Directory.Count > 0 && queryLog.Status == "ok" && watcher.Store == "ok";
        return Results.Json(
            new OcspHealthAnswer(
                healthy ? "ok" : "degraded",
                new OcspHsmHealth(hsm.Status.ToString().ToLowerInvariant(), hsm.Since, hsm.LastError, services.HsmWatch.Health),
                services.Directory.Count,
                services.Signatures.Count,
                cache.Count,
                cache.Capacity,
                cache.Bytes,
                cache.BudgetBytes,
                cache.Evictions,
                storeNode,
                watcher.LastChangeSeq,
                watcher.Store,
                watcher.Notify,
                watcher.ListenConnections,
                queryLog.Written,
                queryLog,
                refusals.Count,
                provider.GetService<OcspArchiveJob>()?.Status
                    ?? new ArchiveStatus(false, settings.Resolve(ocsp.Archive.Directory), 0, 0, null, 0, null)),
            statusCode: healthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }

    /// <summary>The query-log archive job (<c>ocsp.archive.*</c>), unless switched off.</summary>
    private static void AddArchive(IServiceCollection services, JpkiSettings settings, TimeProvider time)
    {
        if (!settings.Ocsp.Archive.Enabled)
        {
            return;
        }

        services.AddSingleton(provider => new OcspQueryArchiver(
            provider.GetRequiredService<Database>(),
            provider.GetRequiredService<OcspServices>().Audit,
            OcspArchiveOptions.From(settings),
            time));
        services.AddSingleton(provider => new OcspArchiveJob(
            provider.GetRequiredService<OcspQueryArchiver>(),
            provider.GetRequiredService<Database>(),
            TimeSpan.FromMinutes(settings.Ocsp.Archive.EveryMinutes),
            time,
            provider.GetRequiredService<ILogger<OcspArchiveJob>>()));
        services.AddHostedService(provider => provider.GetRequiredService<OcspArchiveJob>());
    }
}

/// <summary>What the responder opens once: the store (migrated), the token and its 'ocsp' session pool, the issuer directory.</summary>
public sealed class OcspServices : IDisposable
{
    private readonly OwnedResources owned = new();

    public Database Database { get; private set; } = null!;

    public HsmToken Token { get; private set; } = null!;

    /// <summary>This instance's row in <c>store_clients</c> (rolling upgrades, docs/decisions/0530); its heartbeat is a hosted loop.</summary>
    public StoreClientRegistration StoreClient { get; private set; } = null!;

    public SessionPool Pool { get; private set; } = null!;

    public IssuerDirectory Directory { get; private set; } = null!;

    public SignatureCounter Signatures { get; } = new();

    /// <summary>The audit chain, for the records the responder writes (<c>ocsp.queries-archived</c>).</summary>
    public AuditLog Audit { get; private set; } = null!;

    /// <summary>Re-initialises the module after a token loss and audits the outage (<c>hsm.alarm</c>, <c>hsm.recovered</c>); a hosted loop.</summary>
    public HsmOutageWatch HsmWatch { get; private set; } = null!;

    /// <exception cref="InvalidOperationException">No issuer key has a responder: run <c>./jpki hsm init</c>.</exception>
    public static OcspServices Open(JpkiSettings settings, Pkcs11Module module, TimeProvider time, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(loggers);
        var services = new OcspServices();
        try
        {
            services.Database = services.Own(new Database(settings.ConnectionString, time));
            Migrator.ApplyAtStart(services.Database, MigrationSet.Embedded, loggers.CreateLogger<OcspServices>());
            services.StoreClient = StoreClientRegistration.Register(services.Database, "ocsp", MigrationSet.Embedded, loggers.CreateLogger<StoreClientRegistration>());
            var pin = PinSource.FromEnvironmentOrFile(settings.Hsm.UserPinEnvironmentVariable, settings.Resolve(settings.Hsm.UserPinFile));
            services.Token = services.Own(HsmToken.Open(module, settings.TokenLabel, pin, loggers.CreateLogger("Jpki.Hsm")));
            services.Pool = services.Own(services.Token.CreatePool("ocsp", settings.Hsm.OcspPoolSize, time: time));
            services.Directory = services.Own(new IssuerDirectory(services.Database, services.Pool, services.Signatures, loggers.CreateLogger<IssuerDirectory>()));
            if (services.Directory.Count == 0)
            {
                throw new InvalidOperationException("no issuer key has a delegated OCSP responder: run ./jpki hsm init");
            }

            services.Audit = OpenAudit(settings, services);
            module.Recovery.Policy = settings.Hsm.RecoveryPolicy();
            services.HsmWatch = new HsmOutageWatch(module, services.Database, services.Audit, "system/ocsp", loggers.CreateLogger<HsmOutageWatch>());

            return services;
        }
        catch
        {
            services.Dispose();
            throw;
        }
    }

    /// <summary>As the CRL publisher does: the checkpoint key from the token, and a checkpoint-file tail copied before anything is appended.</summary>
    private static AuditLog OpenAudit(JpkiSettings settings, OcspServices services)
    {
        InstallKeyRow checkpointKey;
        using (var db = services.Database.OpenConnection())
        {
            // The key that signs now: after a checkpoint-key handover, the new one (decision 0421).
            checkpointKey = IssuerStore.CurrentCheckpointKey(db)
                ?? throw new InvalidOperationException("the store has no audit-checkpoint key: run ./jpki hsm init");
        }

        var audit = new AuditLog(services.Own(Pkcs11Signer.Open(services.Pool, checkpointKey.HsmKeyLabel)), settings.AuditOptions());
        audit.RecoverCheckpointFile(services.Database);
        return audit;
    }

    private T Own<T>(T disposable)
        where T : IDisposable => owned.Own(disposable);

    public void Dispose() => owned.Dispose();
}
