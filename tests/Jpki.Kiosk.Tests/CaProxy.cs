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
    private int storageFullIssuances;
    private int storageFullAnswered;

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

    /// <summary>Runs after every 201 answer to <c>POST /api/v1/certificates</c> (with how many so far), before the kiosk gets it.</summary>
    public Func<int, Task>? AfterIssuance { get; set; }

    /// <summary>
    /// How many of the next <c>POST /api/v1/certificates</c> the proxy answers itself, as the CA
    /// answers on a full store disk (503 problem+json <c>storage-full</c>, Retry-After 30, decision
    /// 0252), without forwarding them: the CA's own answer is tested on a real full disk (CrashTests).
    /// </summary>
    public int StorageFullIssuances
    {
        get => Volatile.Read(ref storageFullIssuances);
        set => Volatile.Write(ref storageFullIssuances, value);
    }

    /// <summary>Issuance requests answered <c>storage-full</c> so far.</summary>
    public int StorageFullAnswered => Volatile.Read(ref storageFullAnswered);

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

    private bool TakeStorageFull()
    {
        while (true)
        {
            var left = Volatile.Read(ref storageFullIssuances);
            if (left <= 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref storageFullIssuances, left - 1, left) == left)
            {
                return true;
            }
        }
    }

    private async Task ForwardAsync(HttpContext context, Uri target)
    {
        if (context.Request.Method == "POST" && context.Request.Path == "/api/v1/certificates" && TakeStorageFull())
        {
            Interlocked.Increment(ref storageFullAnswered);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = "30";
            await context.Response.WriteAsJsonAsync(
                new
                {
                    type = "urn:jpki:problem:storage-full",
                    title = "storage full",
                    status = 503,
                    detail = "the disk of the store is full: this request changed nothing (nothing was issued, revoked or recorded: its transaction was rolled back); retry once space is freed",
                },
                (System.Text.Json.JsonSerializerOptions?)null,
                "application/problem+json");
            return;
        }
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
            if (request.Method == HttpMethod.Post && context.Request.Path == "/api/v1/certificates" && response.StatusCode == HttpStatusCode.Created)
            {
                var issued = Interlocked.Increment(ref issuances);
                if (issued == 1 && AfterFirstIssuance is { } hook)
                {
                    await hook();
                }

                if (AfterIssuance is { } each)
                {
                    await each(issued);
                }
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
