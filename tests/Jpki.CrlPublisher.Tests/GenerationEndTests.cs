using System.Globalization;
using Jpki.Ca;
using Jpki.Core.Configuration;
using Jpki.Core.Issuers;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Jpki.Ocsp;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// Issue 17, end of a generation: once a newer generation issues and every end-entity certificate
/// of generation N has expired, each of N's end-entity series gets exactly one final CRL whose
/// nextUpdate is N's root notAfter (openssl reads and verifies it), then nothing more; N's ARL
/// goes on; N's OCSP responder stops answering ('unauthorized', as for an issuer it does not
/// serve) and its responder certificate is neither renewed nor alarmed. Time is moved with
/// <see cref="ShiftedTime"/> over a copy of the fixture's store (SQLite online backup), with its
/// own CRL directories and checkpoint file, so the fixture's other tests never see the years pass.
/// </summary>
[Collection(CrlTestGroup.Name)]
public sealed class GenerationEndTests(CrlFixture crl)
{
    [Fact]
    public async Task A_generation_past_its_last_certificate_gets_one_final_crl_per_series_and_its_responder_stops()
    {
        var leaf = await crl.IssueAsync("352012");
        var revoked = await crl.IssueAsync("352021");
        crl.Revoke(revoked.Serial, RevocationCause.CardLost);
        var oldKey = leaf.IssuerKeyId;
        var key = crl.Services.Publisher.IssuerKeys[oldKey];
        var dir = Directory.CreateDirectory(Path.Combine(crl.Ca.Root, "generation-end-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        var storePath = CopyStore(Path.Combine(dir, "jpki.db"));

        // A newer generation of the issuer issues from now on (only its row matters here: the
        // end of N depends on N+1 issuing, not on N+1's key), and the years pass until a month
        // before N's root ends, when every resident certificate of N (five years at most) has expired.
        using (var setup = new Database("Data Source=" + storePath + ";Pooling=False", TimeProvider.System))
        {
            AddIssuingGeneration(setup, oldKey);
        }

        var offset = key.NotAfter - TimeSpan.FromDays(30) - DateTimeOffset.UtcNow;
        var lastLeafEnd = crl.Scalar("SELECT MAX(not_after_us) FROM certificates WHERE issuer_key_id = @oldKey AND kind IN ('signing', 'authentication')", new { oldKey });
        Assert.True(Instant.FromMicros(lastLeafEnd) < DateTimeOffset.UtcNow + offset, "every certificate of N ends before the shifted clock");
        using var later = new Database("Data Source=" + storePath + ";Pooling=False", new ShiftedTime(offset));
        using (var db = later.OpenConnection())
        {
            // (A generation 2 that the rollover tests may have made ends as well by then; the one added here does not.)
            var finished = IssuerStore.KeysPastLastCertificate(db, Instant.NowMicros(later.Time));
            Assert.Contains(oldKey, finished);
            Assert.DoesNotContain(finished, k => k.EndsWith("-end-test", StringComparison.Ordinal));
            Assert.False(IssuerStore.IsPastLastCertificate(db, oldKey, Instant.ToMicros(DateTimeOffset.UtcNow)), "today N still has unexpired certificates");
        }

        var (audit, checkpointSigner) = crl.AuditOfAnotherStore(Path.Combine(dir, "checkpoints"));
        using var signer = checkpointSigner;
        var options = CrlPublisherServices.OptionsFrom(crl.Settings) with { Directory = Path.Combine(dir, "crl"), ArchiveDirectory = Path.Combine(dir, "crl-archive") };
        var keys = new Dictionary<string, CrlIssuerKey> { [oldKey] = key };
        var publisher = new SeriesPublisher(later, audit, keys, options);

        var fullBefore = FullCrls(later, oldKey);
        var first = publisher.PublishAll(delta: false, scheduled: true);
        var endEntitySeries = publisher.AllSeries().Where(s => s.Kind != CrlScopeKind.Arl).ToList();
        Assert.Contains(endEntitySeries, s => s.Kind == CrlScopeKind.Municipality && s.MunicipalityCode == "352021");
        Assert.Equal(endEntitySeries.Order(SeriesOrder.Instance), first.Where(p => p.Series.Kind != CrlScopeKind.Arl).Select(p => p.Series).Order(SeriesOrder.Instance));
        var arl = Assert.Single(first, p => p.Series.Kind == CrlScopeKind.Arl);
        Assert.True(arl.NextUpdate < key.NotAfter, "the ARL keeps its regular validity");

        var rootEnd = OpensslField(ExternalProcess.RunOrThrow("openssl", "x509", "-noout", "-enddate", "-in", crl.RootPem), "notAfter=");
        foreach (var final in first.Where(p => p.Series.Kind != CrlScopeKind.Arl))
        {
            Assert.Equal(key.NotAfter, final.NextUpdate);
            var text = ExternalProcess.RunOrThrow("openssl", "crl", "-inform", "DER", "-in", final.Path, "-noout", "-text");
            Assert.Equal(rootEnd, OpensslField(text, "Next Update: "));
            Assert.DoesNotContain("Freshest CRL", text, StringComparison.Ordinal);
            var verified = ExternalProcess.Run("openssl", "crl", "-inform", "DER", "-in", final.Path, "-CAfile", crl.RootPem, "-noout", "-verify");
            Assert.True(verified.ExitCode == 0 && verified.Output.Contains("verify OK", StringComparison.Ordinal), verified.Output);
        }

        using (var db = later.OpenConnection())
        {
            var finals = Dapper.SqlMapper.ExecuteScalar<long>(db, "SELECT COUNT(*) FROM audit_log WHERE action = 'crl.published' AND subject LIKE @prefix AND details LIKE '%\"final\":true%'", new { prefix = oldKey + "/%" });
            Assert.Equal(endEntitySeries.Count, finals);
        }

        // Idempotent: complete and delta runs later publish nothing more for N's end-entity
        // series, the ARL goes on with a higher number, and no finished series goes stale.
        var arlNumbers = new List<long> { arl.Number };
        foreach (var step in new[] { TimeSpan.FromHours(1), TimeSpan.FromDays(3) })
        {
            using var after = new Database("Data Source=" + storePath + ";Pooling=False", new ShiftedTime(offset + step));
            var again = new SeriesPublisher(after, audit, keys, options);
            var complete = again.PublishAll(delta: false, scheduled: true);
            var deltas = again.PublishAll(delta: true, scheduled: true);
            Assert.Empty(deltas);
            arlNumbers.Add(Assert.Single(complete, p => p.Series.Kind == CrlScopeKind.Arl).Number);
            Assert.DoesNotContain(complete, p => p.Series.Kind != CrlScopeKind.Arl);
            Assert.DoesNotContain(CrlHealth.Stale(after), s => s.Crl.IssuerKeyId == oldKey && s.Crl.Scope != "arl");
        }

        Assert.True(arlNumbers[2] > arlNumbers[1] && arlNumbers[1] > arlNumbers[0], string.Join(", ", arlNumbers));
        Assert.Equal(fullBefore + 1, FullCrls(later, oldKey));

        // Responder: not renewed and not alarmed once N is finished, though its certificate is long due.
        var ca = crl.Ca.CaServices.GetRequiredService<CaServices>();
        var renewal = new ResponderRenewal(later, ca.Token, ca.IssuancePool, audit, CeremonySettingsView.From(crl.Settings.Ceremony));
        using (var db = later.OpenConnection())
        {
            Assert.Null(renewal.RenewIfDue(oldKey, IssuerStore.FindKey(db, oldKey)!.CertificateDer!, key.Signer));
            Assert.DoesNotContain(ExpiryAlarms.Find(db, later.Time.GetUtcNow(), new ExpiryAlarmSettings()), a => a.Kind == ExpiringCertificateKind.OcspResponder && a.KeyId == oldKey);
        }

        // OCSP over the copy: answered today, 'unauthorized' (RFC 6960 §2.3, as for an issuer it does not serve) once N is finished.
        File.Copy(crl.Settings.Resolve(crl.Settings.Audit.CheckpointFile), Path.Combine(dir, "ocsp-checkpoints"), overwrite: true);
        var settings = crl.Settings with
        {
            Database = "Data Source=" + storePath,
            Audit = crl.Settings.Audit with { CheckpointFile = Path.Combine(dir, "ocsp-checkpoints"), Witness = null },
        };
        Assert.Contains(": good", await AskOcspAsync(settings, TimeProvider.System, leaf), StringComparison.Ordinal);
        var unanswered = await AskOcspAsync(settings, new ShiftedTime(offset), leaf);
        Assert.Contains("unauthorized (6)", unanswered, StringComparison.Ordinal);
    }

    private async Task<string> AskOcspAsync(JpkiSettings settings, TimeProvider time, IssuedLeaf leaf)
    {
        await using var responder = OcspHost.Build(settings, crl.Ca.Module, new OcspOptions { ListenUrl = "http://127.0.0.1:0", Time = time });
        await responder.StartAsync();
        try
        {
            var url = responder.Urls.Single().TrimEnd('/') + "/ocsp";
            var answer = ExternalProcess.Run("openssl", "ocsp", "-issuer", crl.RootPem, "-CAfile", crl.RootPem, "-cert", leaf.PemPath, "-url", url, "-header", "Authorization=Bearer " + crl.Ca.Tokens["verifier"], "-no_nonce");
            return answer.Output;
        }
        finally
        {
            await responder.StopAsync();
        }
    }

    /// <summary>The value after <paramref name="label"/> on the line that has it, as openssl prints dates ("Dec  4 11:20:33 2036 GMT").</summary>
    private static string OpensslField(string text, string label) =>
        text.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith(label, StringComparison.Ordinal))[label.Length..].Trim();

    private static long FullCrls(Database database, string keyId)
    {
        using var db = database.OpenConnection();
        return Dapper.SqlMapper.ExecuteScalar<long>(db, "SELECT COUNT(*) FROM crls WHERE issuer_key_id = @keyId AND scope = 'full'", new { keyId });
    }

    private string CopyStore(string path)
    {
        using var source = new SqliteConnection($"Data Source={crl.Ca.DatabasePath}");
        using var target = new SqliteConnection($"Data Source={path};Pooling=False");
        source.Open();
        target.Open();
        source.BackupDatabase(target);
        return path;
    }

    /// <summary>A newer generation of <paramref name="keyId"/>'s issuer issuing from now (the old certificate bytes reused: only the rows matter).</summary>
    private static void AddIssuingGeneration(Database database, string keyId)
    {
        using var tx = database.BeginWrite();
        var key = IssuerStore.FindKey(tx.Connection, keyId, tx.Transaction)!;
        var generation = tx.QuerySingle<int>("SELECT MAX(generation) FROM issuer_keys WHERE issuer_id = @IssuerId", new { key.IssuerId }) + 1;
        var nowUs = Instant.NowMicros(TimeProvider.System);
        IssuerStore.InsertKey(tx, new IssuerKeyRow
        {
            Id = $"{key.IssuerId}-g{generation.ToString(CultureInfo.InvariantCulture)}-end-test",
            IssuerId = key.IssuerId,
            Generation = generation,
            HsmKeyLabel = key.HsmKeyLabel + "-end-test",
            CertificateDer = key.CertificateDer,
            NotBeforeUs = key.NotBeforeUs,
            NotAfterUs = key.NotAfterUs + (long)TimeSpan.FromDays(4 * 365).TotalMicroseconds,
            State = "active",
            CreatedUs = nowUs,
            IssuesFromUs = nowUs,
            PublishedUs = nowUs,
        });
        tx.Commit();
    }

    private sealed class SeriesOrder : IComparer<CrlSeries>
    {
        public static readonly SeriesOrder Instance = new();

        public int Compare(CrlSeries? x, CrlSeries? y) => string.CompareOrdinal(x?.ToString(), y?.ToString());
    }
}
