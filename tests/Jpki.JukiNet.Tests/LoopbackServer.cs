using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Jpki.JukiNet.Tests;

/// <summary>
/// A tiny Kestrel server on 127.0.0.1:0 that answers every request with one handler:
/// a stand-in for a Juki-Net server that misbehaves in one chosen way. Counts the requests
/// (the handler gets the 1-based number of its request).
/// </summary>
public sealed class LoopbackServer : IAsyncDisposable
{
    private WebApplication? app;
    private int requests;

    public int Requests => Volatile.Read(ref requests);

    public Uri BaseAddress { get; private set; } = null!;

    public static async Task<LoopbackServer> StartAsync(Func<HttpContext, int, Task> handler)
    {
        var server = new LoopbackServer();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        server.app = builder.Build();
        server.app.Run(context => handler(context, Interlocked.Increment(ref server.requests)));
        await server.app.StartAsync();
        server.BaseAddress = SimulatorFixture.BoundAddress(server.app);
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        if (app is not null)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
