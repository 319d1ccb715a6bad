using Microsoft.Extensions.Hosting;

namespace Jpki.Hosting;

/// <summary>A hosted service that runs one loop (e.g. the audit tail timer) until the host stops.</summary>
public sealed class BackgroundLoop(Func<CancellationToken, Task> loop) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => loop(stoppingToken);
}
