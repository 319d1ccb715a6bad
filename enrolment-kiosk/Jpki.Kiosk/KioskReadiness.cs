using Jpki.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.Kiosk;

/// <summary>
/// <c>GET /readyz</c> of the kiosk: it can enrol now, which it does through the CA, so it is ready
/// when the CA it is configured with is ready (the CA's own <c>/readyz</c>). Its card reader is
/// opened at start; a kiosk without one does not start. docs/decisions/0501.
/// </summary>
public static class KioskReadiness
{
    public static async Task<IReadOnlyList<ReadinessCheck>> CheckAsync(IServiceProvider provider, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(provider);
        var ca = provider.GetRequiredService<CaClient>();
        return [await ReadinessCheck.ProbeAsync("ca", ca.ReadyAsync, cancellationToken)];
    }
}
