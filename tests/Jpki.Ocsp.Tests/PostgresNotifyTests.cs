using System.Diagnostics;
using System.Security.Cryptography;
using Dapper;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Configuration;
using Jpki.Core.Issuers;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Jpki.Hsm;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;
using Xunit.Abstractions;

namespace Jpki.Ocsp.Tests;

/// <summary>
/// The responder on a PostgreSQL store (the fixture's third install, on the run's server from
/// JPKI_TEST_PG) with a 30 s status poll: a revocation committed through the CA's revoker reaches
/// the cached answer within ~2 s only through LISTEN/NOTIFY, and a LISTEN connection killed on the
/// server (pg_terminate_backend) is reopened and the change made meanwhile is not lost.
/// </summary>
[Collection(OcspTestGroup.Name)]
public sealed class PostgresNotifyTests(OcspFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan LongPoll = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_revocation_is_answered_revoked_within_2_s_by_notification_although_the_poll_is_30_s()
    {
        await using var install = await PostgresResponder.StartAsync(fixture);
        await install.WaitUntilListeningAsync(1);
        var (serial, _) = install.Issue();

        // Cache the 'good' answer first: from then on only the watcher (poll or notification) can change it.
        Assert.Equal(CertificateStatus.Good, await install.AskAsync(serial));
        var notificationsBefore = install.Watcher.Notifications;
        var revokedAt = Stopwatch.StartNew();
        install.Revoke(serial);
        var latency = await install.WaitForRevokedAsync(serial, TimeSpan.FromSeconds(10));
        output.WriteLine($"revocation committed → OCSP 'revoked' in {latency.TotalMilliseconds:F0} ms (poll interval {LongPoll.TotalSeconds} s)");

        Assert.True(latency < TimeSpan.FromSeconds(2), $"revoked after {latency.TotalMilliseconds:F0} ms; the notify path should take well under 2 s");
        Assert.True(revokedAt.Elapsed < LongPoll, "must be far inside the poll interval");
        Assert.True(install.Watcher.Notifications > notificationsBefore, "the watcher was woken by a notification");
        Assert.Equal(1, install.Watcher.ListenConnections);
        Assert.Equal("listening", install.Watcher.Notify);
        Assert.Equal(install.LastChangeSeq(), install.Watcher.LastChangeSeq);
    }

    [Fact]
    public async Task A_killed_listen_connection_is_reopened_and_a_change_made_meanwhile_is_not_lost()
    {
        await using var install = await PostgresResponder.StartAsync(fixture);
        await install.WaitUntilListeningAsync(1);
        var (serial, _) = install.Issue();
        Assert.Equal(CertificateStatus.Good, await install.AskAsync(serial));

        // Kill the LISTEN backend and revoke at once: the notification goes to nobody.
        Assert.Equal(1, install.TerminateListener());
        install.Revoke(serial);
        var latency = await install.WaitForRevokedAsync(serial, TimeSpan.FromSeconds(15));
        output.WriteLine($"listener killed, revocation committed → OCSP 'revoked' in {latency.TotalMilliseconds:F0} ms (poll interval {LongPoll.TotalSeconds} s)");
        Assert.True(latency < TimeSpan.FromSeconds(10), $"revoked after {latency.TotalMilliseconds:F0} ms: the reconnection's catch-up read should have found it long before the 30 s poll");
        await install.WaitUntilListeningAsync(2);

        // The new connection carries notifications again.
        var (second, _) = install.Issue();
        Assert.Equal(CertificateStatus.Good, await install.AskAsync(second));
        install.Revoke(second);
        var again = await install.WaitForRevokedAsync(second, TimeSpan.FromSeconds(10));
        Assert.True(again < TimeSpan.FromSeconds(2), $"revoked after {again.TotalMilliseconds:F0} ms on the reopened connection");
        Assert.Equal(2, install.Watcher.ListenConnections);
        Assert.Contains("status-change LISTEN connection failed", File.ReadAllText(install.LogPath), StringComparison.Ordinal);
    }

    /// <summary>The PostgreSQL install's own responder (30 s poll), token, issuer signer, revoker and a verifier.</summary>
    private sealed class PostgresResponder : IAsyncDisposable
    {
        private readonly List<IDisposable> owned = [];
        private readonly HttpClient http = new();
        private WebApplication? app;
        private string issuerKeyId = "";
        private Pkcs11Signer issuerSigner = null!;
        private X509Certificate issuer = null!;
        private CertificateRevoker revoker = null!;
        private string verifierToken = "";
        private readonly string logName = Guid.NewGuid().ToString("N");

        private PostgresResponder(OcspFixture fixture) => Fixture = fixture;

        private OcspFixture Fixture { get; }

        public Database Database { get; private set; } = null!;

        public StatusChangeWatcher Watcher => app!.Services.GetRequiredService<StatusChangeWatcher>();

        public string LogPath => Path.Combine(Fixture.Root, $"ocsp-pg-{logName}.log");

        private Uri Address { get; set; } = null!;

        public static async Task<PostgresResponder> StartAsync(OcspFixture fixture)
        {
            if (fixture.PostgresInstallError is { } error)
            {
                throw new InvalidOperationException("the PostgreSQL install could not be made (./jpki test exports JPKI_TEST_PG)", error);
            }

            var install = new PostgresResponder(fixture);
            try
            {
                await install.OpenAsync();
                return install;
            }
            catch
            {
                await install.DisposeAsync();
                throw;
            }
        }

        private async Task OpenAsync()
        {
            var loaded = JpkiSettings.Load(Fixture.PostgresHome);
            var settings = loaded with
            {
                Hsm = loaded.Hsm with { TokenLabel = Fixture.PostgresTokenLabel },
                Ocsp = loaded.Ocsp with { StatusPollMilliseconds = (int)LongPoll.TotalMilliseconds, MutualTls = null },
            };
            Assert.False(Database.IsSqlite(settings.ConnectionString), "the install's store must be PostgreSQL");
            Database = Own(new Database(settings.ConnectionString, TimeProvider.System));
            var token = Own(HsmToken.Open(Fixture.Module, Fixture.PostgresTokenLabel, PinSource.FromFile(settings.Resolve(settings.Hsm.UserPinFile))));
            var pool = Own(token.CreatePool("test-pg", 1));
            using (var db = Database.OpenConnection())
            {
                var key = IssuerStore.ListKeys(db, IssuerStore.ListIssuers(db).Single(i => i.Id.EndsWith("-signing", StringComparison.Ordinal)).Id).Single();
                issuerKeyId = key.Id;
                issuer = new X509Certificate(key.CertificateDer!);
                issuerSigner = Own(Pkcs11Signer.Open(pool, key.HsmKeyLabel));
                var checkpoint = Own(Pkcs11Signer.Open(pool, IssuerStore.FindInstallKey(db, "audit-checkpoint-1")!.HsmKeyLabel));
                revoker = new CertificateRevoker(new AuditLog(checkpoint, settings.AuditOptions()));
            }

            verifierToken = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            var verifier = "verifier-pg-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
            using (var tx = Database.BeginWrite())
            {
                AccountStore.Insert(tx, new Account(verifier, AccountRole.Verifier, [], false), AccountStore.TokenHash(verifierToken));
                tx.Commit();
            }

            app = OcspHost.Build(settings, Fixture.Module, new OcspOptions
            {
                ListenUrl = "http://127.0.0.1:0",
                ConfigureLogging = logging => logging.AddProvider(new FileLoggerProvider(LogPath)),
            });
            await app.StartAsync();
            Address = new Uri(app.Urls.Single().TrimEnd('/') + "/");
        }

        public (string Serial, string PemPath) Issue() => Fixture.Issue(Database, issuerSigner, issuerKeyId);

        public void Revoke(string serial)
        {
            using var tx = Database.BeginWrite();
            Assert.True(revoker.Revoke(tx, new RevocationOrder { Serial = serial, Cause = RevocationCause.Death, Source = "test", Actor = "officer1" }).Changed);
            tx.Commit();
        }

        public long LastChangeSeq()
        {
            using var db = Database.OpenConnection();
            return db.ExecuteScalar<long>("SELECT MAX(change_seq) FROM status_changes");
        }

        /// <summary>Ends the responder's LISTEN backend from the server side; returns how many backends were ended.</summary>
        public int TerminateListener()
        {
            using var db = Database.OpenConnection();
            return db.Query<bool>(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = @name AND datname = current_database()",
                new { name = StatusChangeWatcher.ListenerApplicationName }).Count(terminated => terminated);
        }

        public async Task WaitUntilListeningAsync(long connections)
        {
            var deadline = Stopwatch.StartNew();
            while (!(Watcher.Notify == "listening" && Watcher.ListenConnections >= connections))
            {
                Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), $"the watcher is '{Watcher.Notify}' after {connections - 1} reconnections, not listening");
                await Task.Delay(20);
            }
        }

        /// <summary>The status in the responder's (signed) answer for <paramref name="serial"/>.</summary>
        public async Task<CertificateStatus> AskAsync(string serial)
        {
            var (response, body) = await OcspTestClient.PostAsync(http, Address, OcspTestClient.Request(issuer, new BigInteger(serial, 16)), verifierToken);
            Assert.True(response.IsSuccessStatusCode, response.ToString());
            Assert.Equal(0, OcspTestClient.Status(body));
            var single = Assert.Single(OcspTestClient.Basic(body).Responses);
            Assert.Equal(new BigInteger(serial, 16), single.GetCertID().SerialNumber);
            return single.GetCertStatus() switch
            {
                null => CertificateStatus.Good,
                Org.BouncyCastle.Ocsp.RevokedStatus => CertificateStatus.Revoked,
                var other => throw new InvalidOperationException("unexpected status " + other),
            };
        }

        /// <summary>Asks every 20 ms until the answer is 'revoked'; returns how long that took.</summary>
        public async Task<TimeSpan> WaitForRevokedAsync(string serial, TimeSpan deadline)
        {
            var clock = Stopwatch.StartNew();
            while (await AskAsync(serial) != CertificateStatus.Revoked)
            {
                Assert.True(clock.Elapsed < deadline, $"still not revoked after {deadline}");
                await Task.Delay(20);
            }

            return clock.Elapsed;
        }

        private T Own<T>(T disposable)
            where T : IDisposable
        {
            owned.Add(disposable);
            return disposable;
        }

        public async ValueTask DisposeAsync()
        {
            http.Dispose();
            if (app is not null)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }

            for (var i = owned.Count - 1; i >= 0; i--)
            {
                owned[i].Dispose();
            }
        }
    }
}
