using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Jpki.Hosting;

/// <summary>One thing a service needs to do its main job now: its name, whether it has it, and why not (or, ready, a caveat).</summary>
public sealed record ReadinessCheck(string Name, bool Ready, string? Detail = null)
{
    /// <summary>Runs <paramref name="probe"/>; any exception it throws is "not ready", with the exception's first line as the detail.</summary>
    public static async Task<ReadinessCheck> ProbeAsync(string name, Func<CancellationToken, Task> probe, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(probe);
        try
        {
            await probe(cancellationToken);
            return new ReadinessCheck(name, true);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested || e is not OperationCanceledException)
        {
            // Whatever stops the probe stops the job; the detail is for people, HAProxy reads the status code.
            var message = e.Message;
            var end = message.IndexOfAny(['\r', '\n']);
            return new ReadinessCheck(name, false, end < 0 ? message : message[..end]);
        }
    }
}

/// <summary>Blocking probes (PKCS#11) run off the request thread, and no longer than the answer can wait for them.</summary>
public static class BlockingProbe
{
    /// <summary>Half of <see cref="Readiness.Timeout"/>: a token that hangs is "not ready" in time for the other checks to be reported.</summary>
    public static readonly TimeSpan Timeout = Readiness.Timeout / 2;

    /// <summary><paramref name="probe"/>'s result, or null if it has not returned within <see cref="Timeout"/> (it keeps running on its thread).</summary>
    public static async Task<T?> RunAsync<T>(Func<T> probe, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            return await Task.Run(probe, cancellationToken).WaitAsync(Timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }
}

/// <summary>The answer of <c>GET /readyz</c>.</summary>
public sealed record ReadinessAnswer(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("checks")] IReadOnlyDictionary<string, string> Checks);

/// <summary>
/// <c>GET /readyz</c>, beside <c>/healthz</c>, on every HTTP service: 200 <c>{"status":"ready"}</c>
/// when the instance can do its main job now, else 503 <c>{"status":"unready"}</c>, with one word
/// or line per check. It is what a load balancer asks (HAProxy's <c>option httpchk</c>) to take an
/// instance out and put it back, so it is small, anonymous and bounded in time; <c>/healthz</c>
/// stays the detailed, degraded-or-ok status for people (docs/decisions/0501).
/// </summary>
public static class Readiness
{
    public const string Route = "/readyz";

    /// <summary>A check that has not answered by then counts as not ready: a load balancer's check interval is a few seconds.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Maps <c>GET /readyz</c> on <paramref name="app"/>: <paramref name="checks"/> gets the request's
    /// services and a token cancelled after <see cref="Timeout"/> (or when the client goes away).
    /// </summary>
    public static RouteHandlerBuilder MapReadiness(this IEndpointRouteBuilder app, Func<IServiceProvider, CancellationToken, Task<IReadOnlyList<ReadinessCheck>>> checks)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(checks);
        return app.MapGet(Route, async (HttpContext context) =>
        {
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            bounded.CancelAfter(Timeout);
            IReadOnlyList<ReadinessCheck> results;
            try
            {
                results = await checks(context.RequestServices, bounded.Token);
            }
            catch (OperationCanceledException) when (bounded.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested)
            {
                results = [new ReadinessCheck("checks", false, $"no answer within {Timeout.TotalSeconds:0} s")];
            }

            var ready = results.All(c => c.Ready);
            context.Response.Headers.CacheControl = "no-store";
            return Results.Json(
                new ReadinessAnswer(ready ? "ready" : "unready", results.ToDictionary(c => c.Name, c => c.Detail ?? (c.Ready ? "ok" : "unavailable"), StringComparer.Ordinal)),
                statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        })
            .WithSummary("Whether this instance can do its main job now (for load balancers)")
            .Produces<ReadinessAnswer>(StatusCodes.Status200OK)
            .Produces<ReadinessAnswer>(StatusCodes.Status503ServiceUnavailable);
    }
}
