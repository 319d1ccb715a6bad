using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Jpki.Verifier.Tests;

/// <summary>
/// A pass-through to the real OCSP responder on 127.0.0.1 that counts the queries it forwards:
/// what the verification service's cache saves is counted on the wire, not inside the service.
/// </summary>
public sealed class CountingOcspProxy : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly HttpClient http = new();
    private int queries;

    private CountingOcspProxy(WebApplication app) => this.app = app;

    public Uri Url { get; private set; } = null!;

    public int Queries => Volatile.Read(ref queries);

    public static async Task<CountingOcspProxy> StartAsync(Uri responder)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var proxy = new CountingOcspProxy(app);
        app.MapPost("/ocsp", async (HttpContext context) =>
        {
            Interlocked.Increment(ref proxy.queries);
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            using var forward = new HttpRequestMessage(HttpMethod.Post, responder) { Content = new ByteArrayContent(body.ToArray()) };
            forward.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/ocsp-request");
            forward.Headers.TryAddWithoutValidation("Authorization", context.Request.Headers.Authorization.ToString());
            using var answer = await proxy.http.SendAsync(forward);
            context.Response.StatusCode = (int)answer.StatusCode;
            context.Response.ContentType = "application/ocsp-response";
            await context.Response.Body.WriteAsync(await answer.Content.ReadAsByteArrayAsync());
        });
        await app.StartAsync();
        proxy.Url = new Uri(app.Urls.Single().TrimEnd('/') + "/ocsp");
        return proxy;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
        http.Dispose();
    }
}
