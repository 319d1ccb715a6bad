using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Jpki.Hosting;

/// <summary>
/// The metrics every JPKI web service exports: OpenTelemetry over the service's own meters, the
/// ASP.NET Core server's (<c>http.server.*</c>, Kestrel) and the runtime's (<c>dotnet.*</c>), as
/// Prometheus text at <see cref="MetricsPath"/>. Every series carries <c>service_name</c>, so one
/// dashboard query can tell the CA from the responder without relying on scrape-job names.
/// </summary>
public static class ServiceTelemetry
{
    public const string MetricsPath = "/metrics";

    /// <summary>Registers the meter provider; <paramref name="serviceName"/> is the OpenTelemetry <c>service.name</c> (<c>jpki-ca</c>, …).</summary>
    /// <param name="meters">The service's own meter names (<c>Jpki.Ca</c>, <c>Jpki.Ocsp</c>, …).</param>
    public static IServiceCollection AddServiceMetrics(this IServiceCollection services, string serviceName, params string[] meters)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceName);
        ArgumentNullException.ThrowIfNull(meters);
        services.AddMetrics();
        services.AddOpenTelemetry()
            // Without it the SDK says unknown_service:dotnet, and four services look like one.
            .ConfigureResource(resource => resource.AddService(serviceName, serviceVersion: typeof(ServiceTelemetry).Assembly.GetName().Version?.ToString()))
            .WithMetrics(metrics => metrics
                .AddMeter(meters)
                .AddAspNetCoreInstrumentation()
                .AddRuntimeInstrumentation()
                .AddPrometheusExporter(prometheus => prometheus.ResourceConstantLabels = key => key == "service.name"));
        return services;
    }

    /// <summary>
    /// <c>GET /metrics</c> for anyone on this machine: no credential, but a client from another
    /// address gets a 403 problem. The series name no resident, account or secret; they do show load
    /// and error rates, which is for the operators' own scraper (a Prometheus agent on the host), as
    /// the CA API's loopback-only listener already ensured for its /metrics.
    /// </summary>
    public static IEndpointConventionBuilder MapServiceMetrics(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return endpoints.MapPrometheusScrapingEndpoint(MetricsPath, meterProvider: null, configureBranchedPipeline: branch => branch.Use(RefuseRemoteClients), optionsName: null)
            .AllowAnonymous();
    }

    private static async Task RefuseRemoteClients(HttpContext context, RequestDelegate next)
    {
        if (context.Connection.RemoteIpAddress is { } client && IPAddress.IsLoopback(client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client))
        {
            await next(context);
            return;
        }

        context.Refuse("metrics are served to this machine only");
        await Results.Problem(
            statusCode: StatusCodes.Status403Forbidden,
            type: ProblemAnswers.TypeForStatus(StatusCodes.Status403Forbidden),
            title: "forbidden",
            detail: "metrics are served to clients on this machine only").ExecuteAsync(context);
    }
}
