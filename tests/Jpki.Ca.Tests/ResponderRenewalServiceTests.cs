using Jpki.Core.Configuration;
using Jpki.Core.Issuers;
using Jpki.Core.Store;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.X509;

namespace Jpki.Ca.Tests;

/// <summary>
/// The CA's hosted renewal loop itself (not only <see cref="ResponderRenewal"/>): the hosted service on its own services
/// on the fixture's install with <c>ceremony.responderRenewAfterDays = 0</c> (every responder due at
/// every check) and a 300 ms check interval renews every active issuer key's responder at start and
/// again at each later check, each renewal a new HSM key and a certificate the issuer key signed,
/// audited; once it stops, no more renewals happen.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class ResponderRenewalServiceTests(CaFixture ca)
{
    [Fact]
    public async Task The_hosted_loop_renews_every_issuer_keys_responder_at_start_and_at_each_check_until_stopped()
    {
        var loaded = JpkiSettings.Load(ca.Home);
        var settings = loaded with
        {
            Hsm = loaded.Hsm with { TokenLabel = ca.TokenLabel },
            Ceremony = loaded.Ceremony with { ResponderRenewAfterDays = 0 },
        };
        var keyIds = new List<string>();
        using (var database = new Database("Data Source=" + ca.DatabasePath, TimeProvider.System))
        using (var db = database.OpenConnection())
        {
            foreach (var issuer in IssuerStore.ListIssuers(db))
            {
                keyIds.AddRange(IssuerStore.ListKeys(db, issuer.Id).Where(k => k.State == "active").Select(k => k.Id));
            }
        }

        Assert.NotEmpty(keyIds);
        long Renewals(string keyId) => ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'ocsp-responder.renewed' AND subject = '{keyId}' AND actor = '{ResponderRenewal.Actor}'");
        var before = keyIds.ToDictionary(k => k, Renewals);

        // The hosted service on its own CaServices, not a second whole CaHost: a second host in this
        // process would also register the CA's meters, and disposing them ends the fixture CA's
        // metric streams of the same name (OpenTelemetry listens to meters by name process-wide).
        using var loggers = LoggerFactory.Create(_ => { });
        using var services = CaServices.Open(settings, ca.Module, new CaOptions
        {
            JukiNetBaseAddress = ca.SimulatorAddress,
            Feed = new FeedOptions { Enabled = false },
            ResponderRenewalCheckInterval = TimeSpan.FromMilliseconds(300),
        }, loggers);
        using var service = new ResponderRenewalService(services, loggers.CreateLogger<ResponderRenewalService>());
        await service.StartAsync(CancellationToken.None);
        try
        {
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (keyIds.Any(k => Renewals(k) < before[k] + 2) && DateTime.UtcNow < until)
            {
                await Task.Delay(100);
            }

            Assert.All(keyIds, k => Assert.True(Renewals(k) >= before[k] + 2, $"{k}: {Renewals(k) - before[k]} renewals"));
        }
        finally
        {
            await service.StopAsync(CancellationToken.None);
        }

        var afterStop = keyIds.ToDictionary(k => k, Renewals);
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.All(keyIds, k => Assert.Equal(afterStop[k], Renewals(k)));

        using var store = new Database("Data Source=" + ca.DatabasePath, TimeProvider.System);
        using var connection = store.OpenConnection();
        foreach (var keyId in keyIds)
        {
            var issuerDer = IssuerStore.FindKey(connection, keyId)!.CertificateDer!;
            var current = IssuerStore.FindCurrentResponder(connection, keyId)!;
            Assert.Equal($"{keyId}-ocsp-{afterStop[keyId] + 1}", current.HsmKeyLabel); // the ceremony's is generation 1
            new X509Certificate(current.CertificateDer).Verify(new X509Certificate(issuerDer).GetPublicKey());
        }
    }
}
