using Jpki.Ca.Access;
using Jpki.Core.Configuration;
using Jpki.Core.Store;
using Jpki.Hosting;
using Jpki.Hsm;
using Microsoft.Extensions.Logging;

namespace Jpki.Ca;

/// <summary>
/// Builds the CA API (port 8081) from the install's settings and an already loaded PKCS#11
/// module (one per process: tests pass theirs). Every error is problem+json; logs are JSON
/// lines without personal data.
/// </summary>
public static class CaHost
{
    private const string ServerErrorDetail = "an unexpected error occurred; nothing was issued";

    /// <summary>Every operation but the public ones takes an account's bearer token (API or session); the CA has no mutual-TLS listener.</summary>
    private static readonly ApiDocument ApiDocument = new()
    {
        Title = "JPKI CA API",
        Description = "Issuance, accounts and dual control, revocation, the Juki-Net feed's administration and the auditor API of the prefecture CA (docs/ca.md, docs/access-control.md). Errors are application/problem+json.",
        Credentials = ApiCredentials.Bearer,
        // ApiJson writes no null member (WhenWritingNull).
        OmitsNullMembers = true,
    };

    /// <summary>
    /// Opens the token, keys, store and Juki-Net client, creates the built-in accounts on first
    /// start, and builds the app; the caller starts it. With port 0, <c>app.Urls</c> holds the
    /// bound address once started. The app disposes what it opened when it stops.
    /// </summary>
    /// <exception cref="InvalidOperationException">A non-loopback listen address, or the ceremony has not run.</exception>
    public static WebApplication Build(JpkiSettings settings, Pkcs11Module module, CaOptions options)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(options);
        var builder = ServiceHost.CreateBuilder(new ListenOptions
        {
            Urls = options.ListenUrl,
            Service = "the CA API",
            LoopbackOnly = true,
            MaxRequestBodyBytes = CaOptions.MaxRequestBodyBytes,
            ConfigureLogging = options.ConfigureLogging,
        });
        AddServices(builder.Services, settings, module, options);

        var app = builder.BuildAndOpen(app =>
        {
            // Opened now, not at the first request: a missing ceremony or a wrong PIN fails the start.
            var services = app.Services.GetRequiredService<CaServices>();
            var created = Accounts.BuiltInAccounts.EnsureCreated(services.Database, services.Audit, settings.Home, settings.Accounts.TokenLifetimeDays);
            if (created > 0)
            {
                app.Logger.LogInformation("created {Count} built-in accounts; their tokens are in {SecretsDirectory}", created, Path.Combine(settings.Home, "secrets"));
            }
        });
        // A lost connection to the store's primary (a failover) is a 503 store-unavailable, and clears the pools.
        // A full disk is a 503 storage-full, counted for /healthz and the metrics (decision 0820);
        // PostgreSQL out of other resources (53xxx: connections, memory) is a 503 store-unavailable.
        app.UseProblemAnswers(
            ServerErrorDetail,
            error => app.Services.GetRequiredService<StoreSpaceWatch>().Refused(error, "request"),
            error => Jpki.Core.Store.StoreFaults.IsInsufficientResources(error) || app.Services.GetRequiredService<CaServices>().Database.ConnectionLost(error));
        app.UseRefusalLog("ca");
        app.UseAccessDeniedAudit();
        app.UseAuthentication();
        app.UseAuthorization();
        // The OpenAPI document and its reference page, public like /api/v1/issuers: operators and
        // integrators read them; they name no secret (decision 0710).
        app.MapApiDocument(ApiDocument);
        app.MapGet("/healthz", QueryEndpoints.Health).AllowAnonymous().WithSummary("Detailed status for people: HSM pool, store, Juki-Net, clock, feed, expiry alarms")
            .Produces<CaHealthAnswer>()
            .Produces<CaHealthAnswer>(StatusCodes.Status503ServiceUnavailable);
        app.MapReadiness(CaReadiness.CheckAsync).AllowAnonymous();
        app.MapServiceMetrics();
        MapQueryEndpoints(app);
        Accounts.AccountEndpoints.Map(app);
        MapRevocationEndpoints(app);
        MapFeedEndpoints(app);
        Auditing.AuditorApi.Map(app);
        Auditing.AuditorPages.Map(app);
        OfficerConsole.ConsolePages.Map(app);
        return app;
    }

    /// <summary>What the CA API's requests and background loops use (one instance each per app).</summary>
    private static void AddServices(IServiceCollection services, JpkiSettings settings, Pkcs11Module module, CaOptions options)
    {
        services.AddProblemAnswers(ServerErrorDetail);

        // A factory registration: the container disposes what it made when the app is disposed,
        // and the HSM and Juki-Net loggers come from the app's own logging.
        services.AddSingleton(provider => CaServices.Open(settings, module, options, provider.GetRequiredService<ILoggerFactory>()));
        services.AddCaAccess();
        services.AddSingleton(provider => new AccessDeniedAudit(
            options.Time,
            AccessDeniedAudit.AppenderFor(provider.GetRequiredService<CaServices>(), provider.GetRequiredService<ILogger<AccessDeniedAudit>>())));
        services.AddHostedService(provider => provider.GetRequiredService<AccessDeniedAudit>());
        services.AddApiDocument(ApiDocument);
        // OpenTelemetry over the issuance and feed meters; Prometheus text at /metrics (no personal
        // data: outcomes are problem types, never residents or accounts).
        services.AddServiceMetrics("jpki-ca", IssuanceMetrics.MeterName);
        services.AddSingleton<IssuanceMetrics>();
        services.AddSingleton(provider =>
        {
            var ca = provider.GetRequiredService<CaServices>();
            var residents = new Jpki.Core.Registration.ResidentSource((code, cancel) => ca.JukiNet.LookupAsync(code, cancel), ca.ResidentKey, CaServices.ResidentHmacKeyId);
            return new Jpki.Core.Registration.IssuanceService(
                ca.Database, ca.Audit, ca.Revoker, ca.Clock, ca.Settings, ca.IssuerKeys, residents, new IssuanceAnswerBodies(),
                // A clock stepped back must not issue a notBefore before one already issued (decision 0253).
                Jpki.Core.Clock.ForwardOnlyTime.FromStore(options.Time, ca.Database),
                provider.GetRequiredService<ILogger<Jpki.Core.Registration.IssuanceService>>());
        });
        services.AddSingleton<CertificateIssuance>();
        services.AddSingleton(provider => new LoginThrottle(options.Time));
        services.AddSingleton<Accounts.SessionLogin>();
        services.AddSingleton<Accounts.AccountChanges>();
        services.AddSingleton<Accounts.DualControl>();
        services.AddSingleton<Accounts.AccountAdministration>();
        services.AddSingleton<Accounts.VerifierAdministration>();
        services.AddSingleton(provider =>
        {
            var ca = provider.GetRequiredService<CaServices>();
            return new Jpki.Core.Revocation.RevocationService(ca.Database, ca.Audit, ca.Revoker, ca.ResidentKey, options.Time, options.TwoOfficerWindow);
        });
        services.AddSingleton<RevocationRequests>();
        services.AddSingleton(provider =>
        {
            var ca = provider.GetRequiredService<CaServices>();
            return new StoreSpaceWatch(ca.Database, ca.Audit, options.Time, provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), provider.GetRequiredService<ILogger<StoreSpaceWatch>>());
        });
        // Once the store's disk has room again, the refusals are recorded (store.storage-full) and health is ok.
        services.AddSingleton<IHostedService>(provider => new BackgroundLoop(provider.GetRequiredService<StoreSpaceWatch>().RunAsync));
        AddBackgroundLoops(services);
        services.AddSingleton<Auditing.AuditorReports>();
        Auditing.AuditorPages.AddServices(services);
        OfficerConsole.ConsolePages.AddServices(services);
    }

    private static void MapRevocationEndpoints(WebApplication app)
    {
        app.MapPost("/api/v1/certificates/{serial}/revocations", (string serial, HttpContext context, RevocationRequests revocations) => revocations.RevokeAsync(serial, context, context.Caller()))
            .RequireAuthorization(AccessPolicy.OperatorOrOfficer)
            .WithSummary("Revoke a certificate (at the window, or by an officer)")
            .AcceptsJson<RevocationRequests.RevokeRequest>()
            .Produces<RevocationAnswer>(StatusCodes.Status201Created)
            .Produces<RevocationAnswer>()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        app.MapPost("/api/v1/certificates/{serial}/delivery", (string serial, HttpContext context, CertificateDelivery delivery) => delivery.ConfirmAsync(serial, context, context.Caller()))
            .RequireAuthorization(AccessPolicy.Operator)
            .WithSummary("Confirm that the card holds the certificate (delivered)")
            .Produces<DeliveryAnswer>()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        app.MapPost("/api/v1/issuer-keys/{keyId}/compromise", (string keyId, HttpContext context, RevocationRequests revocations) => revocations.RequestCompromiseAsync(keyId, context, context.Caller()))
            .RequireAuthorization(AccessPolicy.Officer)
            .WithSummary("Request an issuer key's compromise (the first officer's half)")
            .AcceptsJson<RevocationRequests.CompromiseRequest>()
            .Produces<CompromiseRequestedAnswer>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        app.MapPost("/api/v1/issuer-keys/{keyId}/compromise/{requestId:long}/approve", (string keyId, long requestId, HttpContext context, RevocationRequests revocations) => revocations.ApproveCompromiseAsync(keyId, requestId, context, context.Caller()))
            .RequireAuthorization(AccessPolicy.Officer)
            .WithSummary("Approve an issuer key's compromise (a second officer): the key is frozen and its certificates revoked")
            .Produces<CompromiseApprovedAnswer>()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
    }

    /// <summary>The Juki-Net feed's administration, the kill switches, and the audit export.</summary>
    private static void MapFeedEndpoints(WebApplication app)
    {
        app.MapGet("/api/v1/feed", (FeedAdministration feed) => feed.Status())
            .RequireAuthorization(AccessPolicy.OfficerOrAuditor)
            .WithSummary("The Juki-Net feed: cursor, lag, health, open gaps, switches")
            .Produces<FeedStatusAnswer>();
        app.MapGet("/api/v1/feed/gaps", (FeedAdministration feed) => feed.Gaps())
            .RequireAuthorization(AccessPolicy.OfficerOrAuditor)
            .WithSummary("Every gap in the feed's sequence, open and closed")
            .Produces<IReadOnlyList<GapAnswer>>();
        app.MapPost("/api/v1/feed/gaps/{id:long}/close", (long id, HttpContext context, FeedAdministration feed) => feed.CloseGapAsync(id, context, context.Caller()))
            .RequireAuthorization(AccessPolicy.Officer)
            .WithSummary("Close a gap that will not be filled, with a reason")
            .AcceptsJson<FeedAdministration.CloseGapRequest>()
            .Produces<GapAnswer>()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        app.MapGet("/api/v1/feed/quarantine", (FeedAdministration feed) => feed.Quarantine())
            .RequireAuthorization(AccessPolicy.OfficerOrAuditor)
            .WithSummary("The newest malformed feed entries (resident codes hashed)")
            .Produces<IReadOnlyList<QuarantineAnswer>>();
        app.MapGet("/api/v1/switches", (FeedAdministration feed) => feed.Switches())
            .RequireAuthorization(AccessPolicy.OfficerOrAuditor)
            .WithSummary("The feed and issuance kill switches and their latest decisions")
            .Produces<IReadOnlyList<SwitchAnswer>>();
        app.MapPut("/api/v1/switches/{name}", (string name, HttpContext context, FeedAdministration feed) => feed.SetSwitchAsync(name, context, context.Caller()))
            .RequireAuthorization(AccessPolicy.Officer)
            .WithSummary("Stop a kill switch at once (200), or request its release (202, dual control)")
            .AcceptsJson<FeedAdministration.SwitchRequest>()
            .Produces<SwitchAnswer>()
            .Produces<Accounts.ApprovalRequestedAnswer>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        app.MapGet("/api/v1/audit/export", (HttpContext context, AuditExportEndpoint export) => export.Export(context, context.Caller()))
            .RequireAuthorization(AccessPolicy.Auditor)
            .WithSummary("The audit log of a JST date range as a verifiable tar archive (?from=YYYY-MM-DD&to=YYYY-MM-DD)")
            .ProducesBinary(StatusCodes.Status200OK, "application/x-tar", "records, checkpoints and keys of the range: ./jpki audit verify checks it")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
    }

    /// <summary>Issuers (public), certificate status, resident lookups, and issuance.</summary>
    private static void MapQueryEndpoints(WebApplication app)
    {
        app.MapGet("/api/v1/issuers", QueryEndpoints.Issuers).AllowAnonymous()
            .WithSummary("Every issuer with its key generations, roots, fingerprints, CRL and OCSP URLs and link certificates")
            .Produces<IReadOnlyList<IssuerAnswer>>();
        app.MapGet("/api/v1/issuers/{id}/generations/{generation:int}/fingerprint", QueryEndpoints.Fingerprint).AllowAnonymous()
            .Produces<string>(contentType: "text/plain")
            .ProducesProblem(StatusCodes.Status404NotFound);
        app.MapGet("/api/v1/issuers/{id}/certificates/{file}", QueryEndpoints.CaCertificate).AllowAnonymous()
            .Produces<string>(contentType: "application/pem-certificate-chain")
            .ProducesProblem(StatusCodes.Status404NotFound);
        app.MapGet("/api/v1/certificates/{serial}", QueryEndpoints.CertificateStatus).RequireAuthorization(AccessPolicy.AnyAccount)
            .WithSummary("A certificate's status (good, revoked with its RFC 5280 reason, expired)")
            .Produces<QueryEndpoints.CertificateStatusAnswer>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        app.MapPost("/api/v1/residents/lookup", QueryEndpoints.LookupResident).RequireAuthorization(AccessPolicy.Operator)
            .WithSummary("A resident's four facts and eligibility from Juki-Net (the read is logged with its purpose)")
            .AcceptsJson<QueryEndpoints.ResidentLookupRequest>()
            .Produces<ResidentLookupAnswer>();
        app.MapPost("/api/v1/residents/certificates", QueryEndpoints.ResidentCertificates).RequireAuthorization(AccessPolicy.Operator)
            .WithSummary("A resident's unexpired certificates in the operator's municipalities")
            .AcceptsJson<QueryEndpoints.ResidentLookupRequest>()
            .Produces<ResidentCertificatesAnswer>();
        app.MapPost("/api/v1/certificates", (HttpContext context, CertificateIssuance issuance) => issuance.IssueAsync(context, context.Caller()))
            .RequireAuthorization(AccessPolicy.Operator)
            .WithSummary("Issue a signing or user-authentication certificate for a card's key")
            .AcceptsJson<IssueCertificateRequest>()
            .Produces<Jpki.Core.Registration.IssuedCertificateAnswer>(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
    }

    /// <summary>
    /// The loops beside the requests: the Juki-Net subscriber, delivery, responder renewal, expiry
    /// alarms, the audit tail, the clock, abandoned intents, the HSM watch and the store registration.
    /// </summary>
    private static void AddBackgroundLoops(IServiceCollection services)
    {
        services.AddSingleton<FeedHealth>();
        services.AddSingleton<FeedMetrics>();
        services.AddSingleton<CertificateDelivery>();
        services.AddHostedService(provider => provider.GetRequiredService<CertificateDelivery>());
        services.AddSingleton<FeedAdministration>();
        services.AddSingleton<AuditExportEndpoint>();
        services.AddSingleton<JukiNetSubscriber>();
        services.AddHostedService(provider => provider.GetRequiredService<JukiNetSubscriber>());
        services.AddHostedService<ResponderRenewalService>();
        services.AddSingleton<ExpiryAlarmService>();
        services.AddHostedService(provider => provider.GetRequiredService<ExpiryAlarmService>());
        // The audit tail is checkpointed within audit.tailCheckpointSeconds of any append, and every checkpoint is witnessed.
        services.AddHostedService(provider => new BackgroundLoop(provider.GetRequiredService<CaServices>().AuditRuntime.RunAsync));
        // The clock's synchronisation status is read every clock.checkEverySeconds; issuance uses the cached verdict.
        // AddSingleton, not AddHostedService: that one keeps a single registration per implementation type (BackgroundLoop).
        services.AddSingleton<IHostedService>(provider => new BackgroundLoop(provider.GetRequiredService<CaServices>().Clock.RunAsync));
        // Signature intents a killed CA left open are closed as abandoned once audit.abandonedIntentSeconds old.
        services.AddSingleton<IHostedService>(provider => new BackgroundLoop(provider.GetRequiredService<CaServices>().AbandonedIntents.RunAsync));
        // The HSM watch re-initialises a module that lost its token and audits the outage; when the
        // module cannot be re-initialised in process, the CA exits for its supervisor to restart it.
        services.AddSingleton<IHostedService>(provider =>
        {
            var watch = provider.GetRequiredService<CaServices>().HsmWatch;
            watch.Unrecoverable += _ => provider.StopWithExitCode(Jpki.Core.HsmFaults.HsmOutageWatch.RestartExitCode);
            return new BackgroundLoop(watch.RunAsync);
        });
        // This instance's store_clients heartbeat; finding the schema contracted past this code stops the CA, exit 7 (decision 0530).
        services.AddSingleton<IHostedService>(provider =>
        {
            var registration = provider.GetRequiredService<CaServices>().StoreClient;
            registration.Refused += _ => provider.StopWithExitCode(SchemaUpgradeRefusedException.RefusedExitCode);
            return new BackgroundLoop(registration.RunAsync);
        });
    }
}
