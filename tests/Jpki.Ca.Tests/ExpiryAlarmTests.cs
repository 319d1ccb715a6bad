using System.Text.Json;
using Jpki.Core.Configuration;
using Jpki.Core.Issuers;
using Jpki.Core.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.Ca.Tests;

/// <summary>
/// Issue 17's alarms: a root, the newest OCSP responder certificate of an active key, or the
/// audit-checkpoint key's certificate within its window of notAfter and without a successor
/// turns the CA's /healthz degraded (still 200) and is audited once; a newer generation is a
/// root's successor; a root past its end is a finished generation, not an alarm. The store is
/// the fixture's real one (a copy where the test changes it).
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class ExpiryAlarmTests(CaFixture ca)
{
    [Fact]
    public void Each_certificate_alarms_only_within_its_window_and_without_a_successor()
    {
        var settings = new ExpiryAlarmSettings();
        using var copy = StoreCopy();
        using var db = copy.Database.OpenConnection();
        Assert.Empty(ExpiryAlarms.Find(db, DateTimeOffset.UtcNow, settings));

        var newest = NewestGenerations(db);
        var at = Instant.FromMicros(newest.Min(k => k.NotAfterUs)) - TimeSpan.FromDays(100);
        var alarms = ExpiryAlarms.Find(db, at, settings);

        // Every issuer's newest root ends within 1,900 days of `at` (they are all about 10 years long).
        Assert.Equal(newest.Select(k => k.Id).Order(StringComparer.Ordinal), alarms.Where(a => a.Kind == ExpiringCertificateKind.Root).Select(a => a.KeyId).Order(StringComparer.Ordinal));
        // By then every responder certificate (90 days) has long ended without a renewal.
        Assert.Equal(newest.Select(k => k.Id).Order(StringComparer.Ordinal), alarms.Where(a => a.Kind == ExpiringCertificateKind.OcspResponder).Select(a => a.KeyId).Order(StringComparer.Ordinal));
        // The checkpoint key's certificate ends with the ceremony's roots: within 365 days.
        Assert.Single(alarms, a => a.Kind == ExpiringCertificateKind.AuditCheckpoint);

        // A newer generation of one issuer is its root's successor: that alarm goes, the others stay.
        var renewed = newest[0];
        copy.AddGeneration(renewed, notAfter: at + TimeSpan.FromDays(3000));
        var afterRollover = ExpiryAlarms.Find(db, at, settings);
        Assert.DoesNotContain(afterRollover, a => a.Kind == ExpiringCertificateKind.Root && a.KeyId == renewed.Id);
        Assert.Equal(newest.Count - 1, afterRollover.Count(a => a.Kind == ExpiringCertificateKind.Root));

        // A root past its end is a finished generation: no alarm for it.
        var ended = Instant.FromMicros(newest.Max(k => k.NotAfterUs)) + TimeSpan.FromDays(1);
        Assert.DoesNotContain(ExpiryAlarms.Find(db, ended, settings), a => a.Kind == ExpiringCertificateKind.Root);
    }

    [Fact]
    public async Task The_CA_shows_alarms_in_healthz_and_audits_each_once()
    {
        // The fixture CA (default windows) has none.
        var (status, fixtureHealth, _) = await ca.SendAsync(HttpMethod.Get, "/healthz", account: null);
        Assert.True(status is 200 or 503, $"healthz {status}");
        Assert.Equal("ok", fixtureHealth.GetProperty("expiry").GetProperty("status").GetString());

        var before = Audited();
        // A 20-year window: every 10-year root and the checkpoint certificate are "near" their end.
        await using var app = ca.BuildCa(TimeProvider.System, s => s with { ExpiryAlarms = new ExpiryAlarmSettings { RootDays = 7300, CheckpointDays = 7300 } });
        await app.StartAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Audited() == before)
        {
            Assert.True(DateTime.UtcNow < deadline, "no expiry alarm audited by the CA's check at start");
            await Task.Delay(100);
        }

        using var health = JsonDocument.Parse(await ca.Http.GetStringAsync(new Uri(CaFixture.BoundAddress(app), "healthz")));
        var expiry = health.RootElement.GetProperty("expiry");
        Assert.Equal(("degraded", "alarm"), (health.RootElement.GetProperty("status").GetString(), expiry.GetProperty("status").GetString()));
        var kinds = expiry.GetProperty("alarms").EnumerateArray().Select(a => a.GetProperty("kind").GetString()).ToList();
        Assert.Contains("root", kinds);
        Assert.Contains("audit-checkpoint", kinds);
        Assert.All(expiry.GetProperty("alarms").EnumerateArray(), a => Assert.False(string.IsNullOrEmpty(a.GetProperty("remedy").GetString())));

        // Audited once per alarm, however often the CA checks again.
        var service = app.Services.GetRequiredService<ExpiryAlarmService>();
        var alarms = service.Check();
        service.Check();
        Assert.Equal(before + alarms.Count, Audited());
        var record = ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = '{ExpiryAlarms.AuditAction}' AND actor = '{ExpiryAlarmService.Actor}' AND details LIKE '%\"kind\":\"root\"%'");
        Assert.True(record >= alarms.Count(a => a.Kind == ExpiringCertificateKind.Root));
    }

    private long Audited() => ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = '{ExpiryAlarms.AuditAction}'");

    private static List<IssuerKeyRow> NewestGenerations(System.Data.Common.DbConnection db) =>
        IssuerStore.ListIssuers(db)
            .Select(i => IssuerStore.ListKeys(db, i.Id).Where(k => k.State == "active" && k.CertificateDer is not null).MaxBy(k => k.Generation))
            .OfType<IssuerKeyRow>()
            .ToList();

    /// <summary>A consistent copy of the fixture's store (SQLite's online backup), for changes the fixture must not see.</summary>
    private StoreCopyHandle StoreCopy()
    {
        var path = Path.Combine(ca.Root, $"expiry-{Guid.NewGuid():N}.db");
        using (var source = new SqliteConnection($"Data Source={ca.DatabasePath}"))
        using (var target = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            source.Open();
            target.Open();
            source.BackupDatabase(target);
        }

        return new StoreCopyHandle(path);
    }

    private sealed class StoreCopyHandle(string path) : IDisposable
    {
        public Database Database { get; } = new("Data Source=" + path + ";Pooling=False", TimeProvider.System);

        /// <summary>A newer generation of <paramref name="key"/>'s issuer (its certificate bytes reused: only the rows matter here).</summary>
        public void AddGeneration(IssuerKeyRow key, DateTimeOffset notAfter)
        {
            using var tx = Database.BeginWrite();
            IssuerStore.InsertKey(tx, new IssuerKeyRow
            {
                Id = key.Id + "-next",
                IssuerId = key.IssuerId,
                Generation = key.Generation + 1,
                HsmKeyLabel = key.HsmKeyLabel + "-next",
                CertificateDer = key.CertificateDer,
                NotBeforeUs = key.NotBeforeUs,
                NotAfterUs = Instant.ToMicros(notAfter),
                State = "active",
                CreatedUs = key.CreatedUs,
            });
            tx.Commit();
        }

        public void Dispose()
        {
            Database.Dispose();
            File.Delete(path);
        }
    }
}
