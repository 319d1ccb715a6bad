using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.Logging;

namespace Jpki.Ocsp;

/// <summary>
/// What the responder keeps of a refused request (no or an unaccepted credential): a count
/// (<c>/healthz</c> <c>refusedQueries</c>, metric <c>jpki.ocsp.refused_queries</c>) and a structured
/// warning — service, route, reason, client address, never the credential — at most one per client
/// address per <see cref="Window"/>, carrying how many refusals of that address it stood for. Nothing
/// goes to the store: an unauthenticated flood could otherwise grow it without bound (issue 16).
/// </summary>
public sealed class OcspRefusals : IDisposable
{
    public const string ServiceName = "ocsp";

    /// <summary>The shortest time between two log lines about one client address.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(10);

    /// <summary>Client addresses tracked at once; past it the expired windows are dropped (or all, in a flood from very many addresses).</summary>
    private const int TrackedAddressesLimit = 10_000;

    private readonly ConcurrentDictionary<string, AddressWindow> windows = new(StringComparer.Ordinal);
    private readonly ILogger<OcspRefusals> logger;
    private readonly TimeProvider time;
    private readonly Meter meter;
    private readonly Counter<long> refusedCounter;
    private long refused;

    public OcspRefusals(ILogger<OcspRefusals> logger, TimeProvider time, IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        this.logger = logger;
        this.time = time;
        meter = meters.Create("Jpki.Ocsp");
        refusedCounter = meter.CreateCounter<long>("jpki.ocsp.refused_queries", description: "OCSP requests refused by the access policy");
    }

    /// <summary>Refusals since the process started.</summary>
    public long Count => Interlocked.Read(ref refused);

    /// <param name="route">The route template (<c>/ocsp</c>, <c>/ocsp/{request}</c>), never the request's own path.</param>
    /// <param name="reason">Why, in words that name no credential.</param>
    public void Refused(string route, string reason, IPAddress? client)
    {
        Interlocked.Increment(ref refused);
        refusedCounter.Add(1);
        var address = client is null ? "unknown" : (client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client).ToString();
        var nowTicks = time.GetUtcNow().UtcTicks;
        if (windows.Count >= TrackedAddressesLimit)
        {
            Forget(nowTicks);
        }

        var window = windows.GetOrAdd(address, _ => new AddressWindow());
        long represented;
        lock (window)
        {
            if (nowTicks < window.QuietUntilTicks)
            {
                window.Suppressed++;
                return;
            }

            represented = window.Suppressed + 1;
            window.Suppressed = 0;
            window.QuietUntilTicks = nowTicks + Window.Ticks;
        }

        logger.LogWarning(
            "request refused: service {Service}, route {Route}, reason {Reason}, client {ClientAddress}; {Refusals} refusal(s) from this address since its previous line",
            ServiceName,
            route,
            reason,
            address,
            represented);
    }

    private void Forget(long nowTicks)
    {
        foreach (var (address, window) in windows)
        {
            if (window.QuietUntilTicks <= nowTicks && window.Suppressed == 0)
            {
                windows.TryRemove(address, out _);
            }
        }

        if (windows.Count >= TrackedAddressesLimit)
        {
            windows.Clear();
        }
    }

    public void Dispose() => meter.Dispose();

    private sealed class AddressWindow
    {
        public long QuietUntilTicks { get; set; }

        public long Suppressed { get; set; }
    }
}
