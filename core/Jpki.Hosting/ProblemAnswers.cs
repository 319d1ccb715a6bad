using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.Hosting;

/// <summary>
/// Every error of a JPKI HTTP API as problem+json (RFC 7807) with a stable <c>type</c> URN that
/// clients switch on, including the errors the framework itself produces (404, 405, 413, 500).
/// </summary>
public static class ProblemAnswers
{
    public const string TypePrefix = "urn:jpki:problem:";

    /// <summary>The type of an error the framework produced, by status.</summary>
    public static string TypeForStatus(int status) => status switch
    {
        400 => TypePrefix + "invalid-request",
        401 => TypePrefix + "unauthenticated",
        403 => TypePrefix + "forbidden",
        404 => TypePrefix + "not-found",
        405 => TypePrefix + "method-not-allowed",
        413 => TypePrefix + "body-too-large",
        415 => TypePrefix + "unsupported-media-type",
        500 => TypePrefix + "internal-error",
        _ => TypePrefix + "http-" + status.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// Problem details with JPKI types; a 5xx caused by an exception says <paramref name="serverErrorDetail"/>
    /// (e.g. "nothing was issued"), never the exception's message, which only the log gets.
    /// </summary>
    public static IServiceCollection AddProblemAnswers(this IServiceCollection services, string serverErrorDetail)
    {
        ArgumentNullException.ThrowIfNull(services);
        return services.AddProblemDetails(problems => problems.CustomizeProblemDetails = context =>
        {
            var status = context.ProblemDetails.Status ?? context.HttpContext.Response.StatusCode;
            if (context.ProblemDetails.Type is null || context.ProblemDetails.Type.StartsWith("https://tools.ietf.org/", StringComparison.Ordinal))
            {
                context.ProblemDetails.Type = TypeForStatus(status);
            }

            if (status >= 500 && context.Exception is not null)
            {
                context.ProblemDetails.Detail = serverErrorDetail;
            }
        });
    }

    /// <summary>
    /// The exception handler and status-code pages, then routing explicitly after them (WebApplication
    /// would otherwise put routing first, outside them). The handler writes the problem itself rather
    /// than re-executing the pipeline: an error in routing would otherwise fail again and leave an empty 500.
    /// </summary>
    /// <param name="outOfSpace">
    /// Recognises a failure for lack of disk space (the service's store or files): answered 503
    /// <c>storage-full</c> with Retry-After, not 500, since it goes away once space is freed.
    /// </param>
    /// <param name="storeUnavailable">
    /// Recognises a lost connection to the store's primary (a restart, a failover; it also clears
    /// the pools): answered 503 <c>store-unavailable</c> with Retry-After, not 500 (decision 0510).
    /// </param>
    public static WebApplication UseProblemAnswers(this WebApplication app, string serverErrorDetail, Func<Exception, bool>? outOfSpace = null, Func<Exception, bool>? storeUnavailable = null)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseExceptionHandler(new ExceptionHandlerOptions { ExceptionHandler = context => WriteUnhandledAsync(context, serverErrorDetail, outOfSpace, storeUnavailable) });
        app.UseStatusCodePages();
        app.UseRouting();
        return app;
    }

    /// <summary>The type of the 503 answered when a write failed for lack of disk space.</summary>
    public const string StorageFullType = TypePrefix + "storage-full";

    /// <summary>The type of the 503 answered when the connection to the store's primary was lost, or the store ran out of connections or memory.</summary>
    public const string StoreUnavailableType = TypePrefix + "store-unavailable";

    private static async Task WriteUnhandledAsync(HttpContext context, string serverErrorDetail, Func<Exception, bool>? outOfSpace, Func<Exception, bool>? storeUnavailable)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        if (error is not null && storeUnavailable?.Invoke(error) == true)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = "5";
            await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails =
                {
                    Status = StatusCodes.Status503ServiceUnavailable,
                    Type = StoreUnavailableType,
                    Title = "store unavailable",
                    Detail = "the store cannot take this request now (the connection to its primary was lost in a restart or a failover, or it ran out of connections or memory); retry: a write retried with the same Idempotency-Key, or a revocation sent again, finds what was stored",
                },
            });
            return;
        }

        if (error is not null && outOfSpace?.Invoke(error) == true)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = "30";
            await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails =
                {
                    Status = StatusCodes.Status503ServiceUnavailable,
                    Type = StorageFullType,
                    Title = "storage full",
                    Detail = "the disk of the store is full: this request changed nothing (nothing was issued, revoked or recorded: its transaction was rolled back); retry once space is freed",
                },
            });
            return;
        }

        var status = error is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status500InternalServerError;
        context.Response.StatusCode = status;
        await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails =
            {
                Status = status,
                Type = TypeForStatus(status),
                Title = status >= 500 ? "internal error" : "bad request",
                Detail = status >= 500 ? serverErrorDetail : null,
            },
        });
    }
}
