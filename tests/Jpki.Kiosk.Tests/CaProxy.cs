using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Jpki.Kiosk.Tests;

/// <summary>
/// A plain HTTP forwarder on 127.0.0.1 between a kiosk and a CA instance, so a test can act at an
/// exact point of the conversation (after the first issuance answer) — real HTTP on both sides.
/// When the CA behind it does not answer (stopped), the kiosk's connection is dropped without an
/// answer, as a network path to a dead CA would be.
/// </summary>
internal sealed class CaProxy : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly HttpClient http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(1) }) { Timeout = TimeSpan.FromSeconds(20) };
    private int issuances;

    private CaProxy(Uri target)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        app = builder.Build();
        app.Run(context => ForwardAsync(context, target));
    }

    public Uri Address => new(app.Urls.Single().TrimEnd('/') + "/");

    /// <summary>Runs once, after the CA answered the first <c>POST /api/v1/certificates</c> with 201 and before the kiosk gets that answer.</summary>
    public Func<Task>? AfterFirstIssuance { get; set; }

    /// <summary>Issuance answers (201) the CA gave through this proxy.</summary>
    public int Issuances => Volatile.Read(ref issuances);

    public static async Task<CaProxy> StartAsync(Uri target)
    {
        var proxy = new CaProxy(target);
        await proxy.app.StartAsync();
        return proxy;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
        http.Dispose();
    }

    private async Task ForwardAsync(HttpContext context, Uri target)
    {
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), new Uri(target, context.Request.Path.Value!.TrimStart('/') + context.Request.QueryString));
        foreach (var name in new[] { "Authorization", "Idempotency-Key", "Accept" })
        {
            if (context.Request.Headers.TryGetValue(name, out var value))
            {
                request.Headers.TryAddWithoutValidation(name, value.ToArray());
            }
        }

        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        if (body.Length > 0)
        {
            request.Content = new ByteArrayContent(body.ToArray());
            request.Content.Headers.TryAddWithoutValidation("Content-Type", context.Request.ContentType);
        }

        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request);
        }
        catch (HttpRequestException)
        {
            context.Abort();
            return;
        }

        using (response)
        {
            var answer = await response.Content.ReadAsByteArrayAsync();
            if (request.Method == HttpMethod.Post && context.Request.Path == "/api/v1/certificates" && response.StatusCode == HttpStatusCode.Created
                && Interlocked.Increment(ref issuances) == 1 && AfterFirstIssuance is { } hook)
            {
                await hook();
            }

            context.Response.StatusCode = (int)response.StatusCode;
            if (response.Content.Headers.ContentType is { } type)
            {
                context.Response.ContentType = type.ToString();
            }

            await context.Response.Body.WriteAsync(answer);
        }
    }
}
