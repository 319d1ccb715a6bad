using Jpki.Core.Store;
using Jpki.Hosting;
using Jpki.Hsm;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.Ocsp;

/// <summary>
/// <c>GET /readyz</c> of the OCSP responder: it can answer now — the store answers (status
/// changes and unknown serials are read there; an instance that cannot see revocations must not
/// be asked), it knows its issuer keys, and it can sign OR holds signed answers to serve. An HSM
/// outage with a warm cache keeps the instance ready (RFC 5019 answers are pre-signed and valid
/// until nextUpdate); <c>/healthz</c> still says degraded. docs/decisions/0501.
/// </summary>
public static class OcspReadiness
{
    public static async Task<IReadOnlyList<ReadinessCheck>> CheckAsync(IServiceProvider provider, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(provider);
        var services = provider.GetRequiredService<OcspServices>();
        var cache = provider.GetRequiredService<CachingSource>();
        var store = await ReadinessCheck.ProbeAsync("store", token => StoreCheck.ProbeAsync(services.Database, token), cancellationToken);
        var hsm = await BlockingProbe.RunAsync(services.Pool.Probe, cancellationToken);
        var signs = hsm is { Status: HsmHealthStatus.Healthy } && services.HsmWatch.Ok;
        var cached = cache.Count;
        return
        [
            store,
            services.Directory.Count > 0 ? new ReadinessCheck("issuerKeys", true) : new ReadinessCheck("issuerKeys", false, "no issuer key has a responder"),
            signs ? new ReadinessCheck("answers", true)
                : cached > 0 ? new ReadinessCheck("answers", true, $"cached answers only ({cached}): the HSM cannot sign")
                : new ReadinessCheck("answers", false, "the HSM cannot sign and no answer is cached"),
        ];
    }
}
