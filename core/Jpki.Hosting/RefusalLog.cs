using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Jpki.Hosting;

/// <summary>Why a request was refused, set by whoever refused it (an authentication handler, a policy, an endpoint).</summary>
public sealed record RefusalReason(string Reason);

/// <summary>
/// Every refusal (a 401 or 403 answer, or a challenge that redirects to a login page) as one structured log line: service, method, route
/// pattern (never the raw path, which may carry an identifier), status, account or "anonymous",
/// the reason, the client address. Never a token or a header.
/// </summary>
public static class RefusalLog
{
    public const string Category = "Jpki.Refusals";

    /// <summary>Names why this request is refused; the line written after the answer carries it.</summary>
    public static void Refuse(this HttpContext context, string reason)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Features.Set(new RefusalReason(reason));
    }

    /// <summary>Adds the logging middleware; put it before authentication so that it sees every refusal.</summary>
    public static IApplicationBuilder UseRefusalLog(this IApplicationBuilder app, string service)
    {
        ArgumentNullException.ThrowIfNull(app);
        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger(Category);
        return app.Use(async (context, next) =>
        {
            await next(context);
            // A page's challenge is a redirect to its login, not a 401: it names its reason all the same.
            if (context.Response.StatusCode is StatusCodes.Status401Unauthorized or StatusCodes.Status403Forbidden
                || context.Features.Get<RefusalReason>() is not null)
            {
                Write(logger, service, context);
            }
        });
    }

    /// <summary>The route pattern of the endpoint that answered, or "(no route)".</summary>
    public static string RouteOf(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "(no route)";
    }

    private static void Write(ILogger logger, string service, HttpContext context)
    {
        var account = context.User.Identity is { IsAuthenticated: true, Name: { } name } ? name : "anonymous";
        var reason = context.Features.Get<RefusalReason>()?.Reason
            ?? (context.Response.StatusCode == StatusCodes.Status401Unauthorized ? "no valid credential" : "not allowed for this account");
        logger.LogWarning(
            "refused {Service} {Method} {Route}: {Status} for {Account} ({Reason}) from {Client}",
            service,
            context.Request.Method,
            RouteOf(context),
            context.Response.StatusCode,
            account,
            reason,
            context.Connection.RemoteIpAddress?.ToString() ?? "unknown");
    }
}
