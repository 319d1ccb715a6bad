using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Jpki.Hosting;

/// <summary>
/// One log line per request outcome (category <c>Jpki.Requests</c>): method, route pattern (never the
/// raw path, which may carry an identifier), status and duration; the line carries the request's
/// trace id (<see cref="JsonLineFormatter"/>). Installed by <see cref="ServiceHost.CreateBuilder"/>
/// as a startup filter, so it is the outermost middleware of every service and sees the status the
/// client got, also when the exception handler wrote it.
/// </summary>
public sealed class RequestLog(string service) : IStartupFilter
{
    public const string Category = "Jpki.Requests";

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next)
    {
        ArgumentNullException.ThrowIfNull(next);
        return app =>
        {
            var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger(Category);
            app.Use(async (context, nextMiddleware) =>
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await nextMiddleware(context);
                }
                finally
                {
                    // Checked first: a service logging at Warning (a busy OCSP responder) boxes nothing per request.
                    if (logger.IsEnabled(LogLevel.Information))
                    {
                        logger.LogInformation(
                        "{Service} {Method} {Route} answered {Status} in {ElapsedMs} ms",
                        service,
                        context.Request.Method,
                        RefusalLog.RouteOf(context),
                        context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted ? 499 : context.Response.StatusCode,
                        Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1));
                    }
                }
            });
            next(app);
        };
    }
}
