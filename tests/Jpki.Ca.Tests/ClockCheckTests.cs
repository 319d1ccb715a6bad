using System.Text.Json;
using Jpki.Core.Accounts;
using Jpki.Core.Clock;

namespace Jpki.Ca.Tests;

/// <summary>
/// No signature with a wrong clock (issue 16): a CA instance on the fixture's install with a fake
/// clock-status source (the machine's clock is never touched) and a manual clock, moved past two
/// check intervals so the next request reads the source again.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class ClockCheckTests(CaFixture ca)
{
    private const string Operator = "operator-clock";
    private static readonly TimeSpan PastCheck = TimeSpan.FromSeconds(61);

    [Fact]
    public async Task OffsetOutOfBoundsRefusesIssuanceWithNothingStoredAlarmsOnceAndResumesWhenBack()
    {
        var time = new ManualClock(DateTimeOffset.UtcNow);
        var source = new FakeClockSyncSource(time);
        await using var app = ca.BuildCa(time, clockSource: source);
        await app.StartAsync();
        var at = CaFixture.BoundAddress(app);
        await IssueAsync(at, expect: 201);

        source.Set(synchronised: true, TimeSpan.FromSeconds(5));
        time.Advance(PastCheck);
        var issued = ca.IssuedCertificates;
        var alarms = Audited(ClockGuard.AlarmAction);
        var readsBefore = source.Reads;
        for (var i = 0; i < 5; i++)
        {
            var refused = await IssueAsync(at, expect: 503);
            Assert.Equal("urn:jpki:problem:clock-unsynchronised", refused.GetProperty("type").GetString());
            Assert.Contains("5000 ms, over the 1000 ms allowed; nothing was issued", refused.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal(issued, ca.IssuedCertificates);
        Assert.Equal(alarms + 1, Audited(ClockGuard.AlarmAction));
        // Five refusals, one read (two if the 30 s loop happened to fire meanwhile): never a read per request.
        Assert.InRange(source.Reads - readsBefore, 1, 2);
        var alarm = LatestDetails(ClockGuard.AlarmAction);
        Assert.Equal("offset-out-of-bounds", alarm.GetProperty("state").GetString());
        Assert.Equal(5_000_000, alarm.GetProperty("offsetMicros").GetInt64());
        Assert.Contains(ca.LogLines, l => l.Contains("clock alarm: system/ca refuses", StringComparison.Ordinal) && l.Contains("offset-out-of-bounds", StringComparison.Ordinal));
        var (healthStatus, health, _) = await ca.SendAsync(HttpMethod.Get, "healthz", null, at: at);
        Assert.Equal(503, healthStatus);
        Assert.Equal("refusing", health.GetProperty("clock").GetProperty("status").GetString());

        source.Set(synchronised: true, TimeSpan.FromMilliseconds(3));
        time.Advance(PastCheck);
        var recovered = Audited(ClockGuard.RecoveredAction);
        await IssueAsync(at, expect: 201);
        Assert.Equal(issued + 1, ca.IssuedCertificates);
        Assert.Equal(recovered + 1, Audited(ClockGuard.RecoveredAction));
        Assert.Equal(alarms + 1, Audited(ClockGuard.AlarmAction));
    }

    [Fact]
    public async Task UnsynchronisedSourceRefusesIssuance()
    {
        var time = new ManualClock(DateTimeOffset.UtcNow);
        var source = new FakeClockSyncSource(time);
        source.Set(synchronised: false, TimeSpan.FromMilliseconds(1));
        var alarms = Audited(ClockGuard.AlarmAction);
        await using var app = ca.BuildCa(time, clockSource: source);
        await app.StartAsync();
        var issued = ca.IssuedCertificates;

        // The check loop reads the source at start: the alarm is raised before any request.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Audited(ClockGuard.AlarmAction) == alarms)
        {
            Assert.True(DateTime.UtcNow < deadline, "no clock alarm from the check loop");
            await Task.Delay(100);
        }

        var refused = await IssueAsync(CaFixture.BoundAddress(app), expect: 503);

        Assert.Equal("urn:jpki:problem:clock-unsynchronised", refused.GetProperty("type").GetString());
        Assert.Contains("says the clock is not synchronised", refused.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(issued, ca.IssuedCertificates);
        Assert.Equal(alarms + 1, Audited(ClockGuard.AlarmAction));
        Assert.Equal("unsynchronised", LatestDetails(ClockGuard.AlarmAction).GetProperty("state").GetString());
    }

    [Fact]
    public async Task NoSourceOnADemoInstallDegradesHealthButIssues()
    {
        var time = new ManualClock(DateTimeOffset.UtcNow);
        var source = new FakeClockSyncSource(time);
        source.SetUnreadable("chronyc cannot be run; timedatectl exited with 1");
        var alarms = Audited(ClockGuard.AlarmAction);
        await using var app = ca.BuildCa(time, clockSource: source);
        await app.StartAsync();
        var at = CaFixture.BoundAddress(app);

        var (healthStatus, health, _) = await ca.SendAsync(HttpMethod.Get, "healthz", null, at: at);
        Assert.True(healthStatus == 200, health.ToString());
        Assert.Equal("degraded", health.GetProperty("status").GetString());
        var clock = health.GetProperty("clock");
        Assert.Equal("warning", clock.GetProperty("status").GetString());
        Assert.Equal("no-source", clock.GetProperty("state").GetString());
        Assert.Equal("demo", clock.GetProperty("installMode").GetString());
        Assert.Contains("chronyc cannot be run", clock.GetProperty("reason").GetString(), StringComparison.Ordinal);

        var issued = ca.IssuedCertificates;
        await IssueAsync(at, expect: 201);
        Assert.Equal(issued + 1, ca.IssuedCertificates);
        Assert.Equal(alarms, Audited(ClockGuard.AlarmAction));
    }

    [Fact]
    public async Task NoSourceOnAProductionInstallRefusesIssuance()
    {
        var time = new ManualClock(DateTimeOffset.UtcNow);
        var source = new FakeClockSyncSource(time);
        source.SetUnreadable();
        var recorded = ca.CountRows("SELECT COUNT(*) FROM install_settings WHERE name = 'install.mode'") > 0;
        ca.ExecuteSql("INSERT INTO install_settings (name, value) VALUES ('install.mode', @Production) ON CONFLICT (name) DO UPDATE SET value = excluded.value", new { InstallMode.Production });
        try
        {
            await using var app = ca.BuildCa(time, clockSource: source);
            await app.StartAsync();
            var issued = ca.IssuedCertificates;

            var refused = await IssueAsync(CaFixture.BoundAddress(app), expect: 503);

            Assert.Equal("urn:jpki:problem:clock-unsynchronised", refused.GetProperty("type").GetString());
            Assert.Contains("a production install signs nothing", refused.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.Equal(issued, ca.IssuedCertificates);
            var alarm = LatestDetails(ClockGuard.AlarmAction);
            Assert.Equal("no-source", alarm.GetProperty("state").GetString());
            Assert.Equal("production", alarm.GetProperty("installMode").GetString());
        }
        finally
        {
            // The fixture's install is shared: the other tests run it as the demonstration it is.
            ca.ExecuteSql(recorded ? "UPDATE install_settings SET value = @Demo WHERE name = 'install.mode'" : "DELETE FROM install_settings WHERE name = 'install.mode'", new { InstallMode.Demo });
        }
    }

    private async Task<JsonElement> IssueAsync(Uri at, int expect)
    {
        if (!ca.Tokens.ContainsKey(Operator))
        {
            ca.Tokens[Operator] = ca.AddAccount(new Account(Operator, AccountRole.Operator, ["352012"], false));
        }

        var code = await ca.AddResidentAsync();
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", Operator, new { residentCode = code, kind = "authentication", csr = ca.NewCardCsr(), windowId = "WIN00001A", jukiSequence = 0 }, at: at);
        Assert.True(status == expect, $"expected {expect}, got {status}: {body}");
        return body;
    }

    private long Audited(string action) => ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = '{action}'");

    private JsonElement LatestDetails(string action)
    {
        using var database = new Jpki.Core.Store.Database("Data Source=" + ca.DatabasePath, TimeProvider.System);
        using var db = database.OpenConnection();
        using var command = db.CreateCommand();
        command.CommandText = $"SELECT details FROM audit_log WHERE action = '{action}' ORDER BY seq DESC LIMIT 1";
        return JsonDocument.Parse((string)command.ExecuteScalar()!).RootElement.Clone();
    }
}
