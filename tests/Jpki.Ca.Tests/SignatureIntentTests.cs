using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Dapper;
using Jpki.Core.Configuration;
using Jpki.Core.Issuers;
using Jpki.Core.Signatures;
using Jpki.Core.Store;
using Jpki.Hsm;
using Microsoft.Extensions.Logging;

namespace Jpki.Ca.Tests;

/// <summary>
/// Every signature accounted for (issue 16, finding 5) on the real CA: an issued certificate's
/// intent is recorded before it and completed with it; a certificate signed and then dropped by a
/// re-check under the writers' lock (a concurrent request certified the same key; an officer
/// stopped issuance meanwhile) leaves its intent and a 'signature.discarded' record with the
/// reason; the responder renewal does the same when a concurrent renewal won. Juki-Net's answer is
/// delayed (the simulator's slowMs) so that both requests, or the officer, act while the CA waits
/// for it, after the checks before signing.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class SignatureIntentTests(CaFixture ca)
{
    private const string Certificates = "api/v1/certificates";

    private static object Body(string residentCode, string kind, string csr) => new { residentCode, kind, csr, windowId = "WIN00001A" };

    [Fact]
    public async Task An_issued_certificate_has_its_intent_recorded_before_it_and_completed_with_it_and_no_discard()
    {
        var code = await ca.AddResidentAsync();
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", Body(code, "signing", ca.NewCardCsr()));
        Assert.Equal(201, status);
        var serial = body.GetProperty("serial").GetString()!;
        using var certificate = X509Certificate2.CreateFromPem(body.GetProperty("certificatePem").GetString());

        var intended = Assert.Single(Records("signature.intended", serial));
        Assert.Equal("operator", intended.Actor);
        Assert.Equal(SignatureAccountingCheck.TbsSha256(certificate.RawData), intended.Details.GetProperty("tbsSha256").GetString());
        Assert.Equal("signing", intended.Details.GetProperty("purpose").GetString());
        Assert.Equal(body.GetProperty("issuerKeyId").GetString(), intended.Details.GetProperty("issuerKeyId").GetString());
        Assert.True(intended.Seq < Assert.Single(Records("certificate.issued", serial)).Seq);
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM signature_intents WHERE serial = '{serial}' AND outcome = 'certified' AND audit_seq = {intended.Seq}"));
        Assert.Empty(Records("signature.discarded", serial));
        Assert.DoesNotContain(Check().Unaccounted, u => u.Serial == serial);
    }

    [Fact]
    public async Task Two_requests_for_one_key_signed_at_once_leave_one_certificate_and_one_discarded_signature()
    {
        var code = await ca.AddResidentAsync();
        var csr = ca.NewCardCsr();
        var from = LastSeq();
        (int Status, JsonElement Body, string? ContentType)[] racing;
        // Both lookups are held long enough that the two requests sign together, and well inside the
        // CA's 2 s Juki-Net attempt timeout: at 1,200 ms a loaded CI machine pushed an answer past it.
        await ca.SetFaultsAsync(new { slowMs = 800 });
        try
        {
            racing = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => ca.SendAsync(HttpMethod.Post, Certificates, "operator", Body(code, "authentication", csr))));
        }
        finally
        {
            await ca.ClearFaultsAsync();
        }

        var issued = Assert.Single(racing, r => r.Status == 201).Body.GetProperty("serial").GetString()!;
        var refused = Assert.Single(racing, r => r.Status != 201);
        Assert.Equal((409, "urn:jpki:problem:duplicate-key"), (refused.Status, refused.Body.GetProperty("type").GetString()));

        // Both were signed (two intents); the one the re-check under the lock refused is discarded, with its reason.
        var intents = RecordsAfter(from, "signature.intended");
        Assert.Equal(2, intents.Count);
        var discard = Assert.Single(RecordsAfter(from, "signature.discarded"));
        Assert.NotEqual(issued, discard.Subject);
        Assert.Equal("duplicate-key", discard.Details.GetProperty("reason").GetString());
        Assert.Equal(intents.Single(i => i.Subject == discard.Subject).Details.GetProperty("tbsSha256").GetString(), discard.Details.GetProperty("tbsSha256").GetString());
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM signature_intents WHERE serial = '{discard.Subject}' AND outcome = 'discarded' AND reason = 'duplicate-key'"));
        Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{discard.Subject}'"));
        var report = Check();
        Assert.DoesNotContain(report.Unaccounted, u => u.Serial == issued || u.Serial == discard.Subject);
    }

    [Fact]
    public async Task Issuance_stopped_by_an_officer_while_a_certificate_is_signed_leaves_a_discarded_signature()
    {
        var code = await ca.AddResidentAsync();
        var from = LastSeq();
        await ca.SetFaultsAsync(new { slowMs = 1500 });
        (int Status, JsonElement Body, string? ContentType) answer;
        try
        {
            var request = ca.SendAsync(HttpMethod.Post, Certificates, "operator", Body(code, "authentication", ca.NewCardCsr()));
            // The request has passed the checks before signing and waits for Juki-Net's answer.
            await Task.Delay(500);
            var (stopped, _, _) = await ca.SendAsync(HttpMethod.Put, "api/v1/switches/issuance", "officer1", new { stopped = true, reason = "stopped while a certificate is signed" });
            Assert.Equal(200, stopped);
            answer = await request;
        }
        finally
        {
            await ca.ClearFaultsAsync();
            await ca.ReleaseSwitchAsync("issuance", "test finished");
        }

        Assert.Equal((503, "urn:jpki:problem:issuance-stopped"), (answer.Status, answer.Body.GetProperty("type").GetString()));
        var intent = Assert.Single(RecordsAfter(from, "signature.intended"));
        var discard = Assert.Single(RecordsAfter(from, "signature.discarded"));
        Assert.Equal(intent.Subject, discard.Subject);
        Assert.Equal(("issuance-stopped", "operator"), (discard.Details.GetProperty("reason").GetString(), discard.Actor));
        Assert.True(intent.Seq < discard.Seq);
        Assert.DoesNotContain(Check().Unaccounted, u => u.Serial == intent.Subject);
    }

    [Fact]
    public void A_responder_certificate_a_concurrent_renewal_made_unnecessary_is_discarded_and_the_renewal_that_won_is_certified()
    {
        var loaded = JpkiSettings.Load(ca.Home);
        var settings = loaded with
        {
            Hsm = loaded.Hsm with { TokenLabel = ca.TokenLabel },
            Ceremony = loaded.Ceremony with { ResponderRenewAfterDays = 0 },
        };
        using var loggers = LoggerFactory.Create(_ => { });
        using var services = CaServices.Open(settings, ca.Module, new CaOptions { JukiNetBaseAddress = ca.SimulatorAddress, Feed = new FeedOptions { Enabled = false } }, loggers);
        var key = services.IssuerKeys.Active()[0];
        var renewal = new ResponderRenewal(services.Database, services.Token, services.IssuancePool, services.Audit, CeremonySettingsView.From(settings.Ceremony));
        var from = LastSeq();

        // Another CA instance renews this responder while this one's certificate is being signed.
        string? won = null;
        var lost = renewal.RenewIfDue(key.Key.Id, key.Key.CertificateDer!, new InterleavingSigner(key.Signer, () => won = renewal.RenewIfDue(key.Key.Id, key.Key.CertificateDer!, key.Signer)));

        Assert.Null(lost);
        Assert.NotNull(won);
        using (var db = services.Database.OpenConnection())
        {
            Assert.Equal(won, IssuerStore.FindCurrentResponder(db, key.Key.Id)!.Serial);
        }

        var intents = RecordsAfter(from, "signature.intended");
        Assert.Equal(2, intents.Count);
        Assert.All(intents, i => Assert.Equal(("ocsp-responder", ResponderRenewal.Actor), (i.Details.GetProperty("purpose").GetString(), i.Actor)));
        var discard = Assert.Single(RecordsAfter(from, "signature.discarded"));
        Assert.NotEqual(won, discard.Subject);
        Assert.Equal("superseded-concurrently", discard.Details.GetProperty("reason").GetString());
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM signature_intents WHERE serial = '{won}' AND outcome = 'certified'"));
        Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{discard.Subject}'"));
        var report = Check();
        Assert.DoesNotContain(report.Unaccounted, u => u.Serial == won || u.Serial == discard.Subject);
    }

    private sealed record Record(long Seq, string Actor, string Subject, JsonElement Details);

    private SignatureAccountingReport Check()
    {
        using var database = new Database("Data Source=" + ca.DatabasePath, TimeProvider.System);
        return SignatureAccountingCheck.Run(database, SignatureAccountingCheck.DefaultGrace);
    }

    private long LastSeq() => ca.CountRows("SELECT MAX(seq) FROM audit_log");

    private List<Record> Records(string action, string subject) => Query("WHERE action = @action AND subject = @subject", new { action, subject });

    private List<Record> RecordsAfter(long seq, string action) => Query("WHERE action = @action AND seq > @seq", new { action, seq });

    private List<Record> Query(string where, object parameters)
    {
        using var database = new Database("Data Source=" + ca.DatabasePath, TimeProvider.System);
        using var db = database.OpenConnection();
        return db.Query<(long Seq, string Actor, string Subject, string Details)>($"SELECT seq, actor, subject, details FROM audit_log {where} ORDER BY seq", parameters)
            .Select(r => new Record(r.Seq, r.Actor, r.Subject, JsonDocument.Parse(r.Details).RootElement.Clone()))
            .ToList();
    }

    /// <summary>The real HSM key, with <paramref name="meanwhile"/> run once just before its first signature: an interleaving, not a fake.</summary>
    private sealed class InterleavingSigner(ISigner inner, Action meanwhile) : ISigner
    {
        private int ran;

        public byte[] SubjectPublicKeyInfo => inner.SubjectPublicKeyInfo;

        public KeyKind KeyKind => inner.KeyKind;

        public byte[] Sign(SignatureAlgorithm algorithm, ReadOnlySpan<byte> data)
        {
            Meanwhile();
            return inner.Sign(algorithm, data);
        }

        public byte[] SignDigest(SignatureAlgorithm algorithm, ReadOnlySpan<byte> digest)
        {
            Meanwhile();
            return inner.SignDigest(algorithm, digest);
        }

        private void Meanwhile()
        {
            if (Interlocked.Exchange(ref ran, 1) == 0)
            {
                meanwhile();
            }
        }
    }
}
