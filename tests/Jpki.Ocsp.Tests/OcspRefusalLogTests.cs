using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.Ocsp.Tests;

/// <summary>The refusal log's rate limit: one line per client address per 10 s, carrying the count it stands for.</summary>
public sealed class OcspRefusalLogTests : IDisposable
{
    private readonly ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    [Fact]
    public void A_flood_from_two_addresses_gives_one_line_each_per_window_and_the_next_line_carries_the_count()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 22, 1, 0, 0, TimeSpan.Zero));
        var logger = new CapturingLogger<OcspRefusals>();
        using var refusals = new OcspRefusals(logger, clock, services.GetRequiredService<IMeterFactory>());
        var first = IPAddress.Parse("192.0.2.7");
        var second = IPAddress.Parse("::ffff:198.51.100.9");
        for (var i = 0; i < 500; i++)
        {
            refusals.Refused(OcspEndpoint.PostRoute, "no credential", first);
            refusals.Refused(OcspEndpoint.GetRoute, "no credential", second);
            clock.Advance(TimeSpan.FromMilliseconds(19)); // 500 × 19 ms = 9.5 s: still inside the first window
        }

        Assert.Equal(1000, refusals.Count);
        Assert.Equal(2, logger.Lines.Count);
        Assert.Contains(logger.Lines, l => l.StartsWith("Warning", StringComparison.Ordinal) && l.Contains("client 192.0.2.7;", StringComparison.Ordinal) && l.Contains("route /ocsp,", StringComparison.Ordinal) && l.Contains(" 1 refusal(s)", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.Contains("client 198.51.100.9;", StringComparison.Ordinal) && l.Contains("route /ocsp/{request}", StringComparison.Ordinal));

        clock.Advance(TimeSpan.FromSeconds(1));
        refusals.Refused(OcspEndpoint.PostRoute, "credential not accepted", first);
        Assert.Equal(3, logger.Lines.Count);
        Assert.Contains("credential not accepted, client 192.0.2.7; 500 refusal(s)", logger.Lines.Last(), StringComparison.Ordinal);
        Assert.Equal(1001, refusals.Count);
    }

    public void Dispose() => services.Dispose();
}
