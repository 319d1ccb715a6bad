using System.Text.Json;
using Jpki.Core.Clock;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// No CRL signed with a wrong clock (issue 16): a second publisher on the fixture's store whose
/// clock-status source is a fake (read every second), so its state follows the fake within a
/// second; the machine's clock is never touched.
/// </summary>
[Collection(CrlTestGroup.Name)]
public sealed class ClockCheckTests(CrlFixture crl)
{
    private static readonly CrlSeries Full = new(CrlFixture.SigningKey, CrlScopeKind.Full);

    private readonly System.Collections.Concurrent.ConcurrentQueue<string> log = new();

    [Fact]
    public async Task OutOfBoundsRefusesCrlsWithAnAlarmAndTheRefusedPublicationFollowsWhenTheClockIsBack()
    {
        var source = FakeClockSyncSource.Synchronised();
        await using var app = Build(source);
        await app.StartAsync();
        var services = app.Services.GetRequiredService<CrlPublisherServices>();
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single().TrimEnd('/') + "/") };
        var alarms = Audited(ClockGuard.AlarmAction);
        var recovered = Audited(ClockGuard.RecoveredAction);

        source.Set(synchronised: true, TimeSpan.FromSeconds(3));
        await WaitUntilAsync(() => !services.Clock.Current.MaySign, "the publisher to see the offset");
        var crls = Crls();
        var lastId = crl.Ca.CountRows("SELECT COALESCE(MAX(id), 0) FROM crls");
        var numbers = crl.Ca.CountRows("SELECT COALESCE(SUM(last_number), 0) FROM crl_series");
        var scheduled = Assert.Throws<ClockUnsynchronisedException>(() => services.Deferred.PublishAll(deltas: false, scheduled: true));
        Assert.Equal(ClockState.OffsetOutOfBounds, scheduled.Verdict.State);
        Assert.Contains("3000 ms, over the 1000 ms allowed", scheduled.Message, StringComparison.Ordinal);
        Assert.Throws<ClockUnsynchronisedException>(() => services.Publisher.Publish(Full, delta: false, scheduled: false));
        Assert.Throws<ClockUnsynchronisedException>(() => services.Publisher.PublishAll(delta: true, scheduled: false));

        Assert.Equal(crls, Crls());
        Assert.Equal(numbers, crl.Ca.CountRows("SELECT COALESCE(SUM(last_number), 0) FROM crl_series"));
        // The guard takes the new verdict first (so nothing signs from that instant) and then writes
        // the alarm's audit record; the test saw the verdict and may get here before that commit.
        await WaitUntilAsync(() => Audited(ClockGuard.AlarmAction) > alarms, "the clock alarm's audit record");
        Assert.Equal(alarms + 1, Audited(ClockGuard.AlarmAction));
        var health = JsonDocument.Parse(await http.GetStringAsync("healthz")).RootElement;
        Assert.Equal("degraded", health.GetProperty("status").GetString());
        Assert.Equal("refusing", health.GetProperty("clock").GetProperty("status").GetString());
        Assert.Equal("offset-out-of-bounds", health.GetProperty("clock").GetProperty("state").GetString());
        Assert.True(health.GetProperty("clockDeferred").GetBoolean());

        source.Set(synchronised: true, TimeSpan.FromMilliseconds(1));
        // Nobody publishes by hand: the refused scheduled run is published by the retry loop.
        // As the refused run would have: a scheduled complete CRL of every series.
        var series = services.Publisher.AllSeries().Count;
        await WaitUntilAsync(() => crl.Ca.CountRows($"SELECT COUNT(*) FROM crls WHERE id > {lastId} AND scheduled = 1 AND kind = 'complete'") == series, "the refused publication to follow");
        Assert.False(services.Deferred.Pending);
        Assert.Equal(recovered + 1, Audited(ClockGuard.RecoveredAction));
        Assert.Equal(alarms + 1, Audited(ClockGuard.AlarmAction));
        health = JsonDocument.Parse(await http.GetStringAsync("healthz")).RootElement;
        Assert.Equal("ok", health.GetProperty("clock").GetProperty("status").GetString());
        Assert.False(health.GetProperty("clockDeferred").GetBoolean());
    }

    [Fact]
    public async Task NoSourceWarnsOnADemoInstallAndRefusesOnAProductionOne()
    {
        var source = FakeClockSyncSource.Synchronised();
        source.SetUnreadable("chronyc cannot be run");
        await using var app = Build(source);
        await app.StartAsync();
        var services = app.Services.GetRequiredService<CrlPublisherServices>();
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single().TrimEnd('/') + "/") };

        var health = JsonDocument.Parse(await http.GetStringAsync("healthz")).RootElement;
        Assert.Equal("degraded", health.GetProperty("status").GetString());
        Assert.Equal("warning", health.GetProperty("clock").GetProperty("status").GetString());
        var crls = Crls();
        Assert.NotNull(services.Publisher.Publish(Full, delta: false, scheduled: false));
        Assert.Equal(crls + 1, Crls());

        var recorded = crl.Ca.CountRows("SELECT COUNT(*) FROM install_settings WHERE name = 'install.mode'") > 0;
        crl.Ca.ExecuteSql("INSERT INTO install_settings (name, value) VALUES ('install.mode', 'production') ON CONFLICT (name) DO UPDATE SET value = excluded.value");
        try
        {
            services.Clock.Refresh();
            var refused = Assert.Throws<ClockUnsynchronisedException>(() => services.Publisher.Publish(Full, delta: false, scheduled: false));
            Assert.Equal(ClockState.NoSource, refused.Verdict.State);
            Assert.Equal(crls + 1, Crls());
        }
        finally
        {
            crl.Ca.ExecuteSql(recorded ? "UPDATE install_settings SET value = 'demo' WHERE name = 'install.mode'" : "DELETE FROM install_settings WHERE name = 'install.mode'");
        }
    }

    private WebApplication Build(FakeClockSyncSource source)
    {
        var settings = crl.Settings with
        {
            Clock = crl.Settings.Clock with { CheckEverySeconds = 1 },
            Crl = crl.Settings.Crl with { MutualTls = null },
            Audit = crl.Settings.Audit with { CheckpointFile = Path.Combine(crl.Ca.Root, "clock-" + Guid.NewGuid().ToString("N")[..8] + "-checkpoints") },
        };
        return CrlHost.Build(settings, crl.Ca.Module, new CrlHostOptions
        {
            ListenUrl = "http://127.0.0.1:0",
            Schedule = false,
            PublishMissingAtStart = false,
            ClockSource = source,
            ConfigureLogging = logging => logging.AddProvider(new CapturingLoggerProvider(log)),
        });
    }

    private long Crls() => crl.Ca.CountRows("SELECT COUNT(*) FROM crls");

    private long Audited(string action) =>
        crl.Ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = '{action}' AND actor = '{SeriesPublisher.Actor}'");

    private async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}; the publisher logged:\n{string.Join('\n', log)}");
            await Task.Delay(100);
        }
    }
}
