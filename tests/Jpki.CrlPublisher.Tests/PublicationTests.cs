using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;
using Jpki.Core.Revocation;

namespace Jpki.CrlPublisher.Tests;

[Collection(CrlTestGroup.Name)]
public sealed class PublicationTests(CrlFixture crl)
{
    private static readonly CrlSeries Full = new(CrlFixture.SigningKey, CrlScopeKind.Full);
    private static readonly CrlSeries Arl = new(CrlFixture.SigningKey, CrlScopeKind.Arl);
    private static readonly CrlSeries Yamaguchi = new(CrlFixture.SigningKey, CrlScopeKind.Municipality, "352012");
    private static readonly CrlSeries Ube = new(CrlFixture.SigningKey, CrlScopeKind.Municipality, "352039");

    [Fact]
    public async Task EveryKindOfCrlVerifiesWithOpensslAndCerttool()
    {
        var yamaguchi = await crl.IssueAsync("352012");
        await crl.IssueAsync("352039");
        crl.Revoke(yamaguchi.Serial, RevocationCause.Death, new DateOnly(2026, 1, 5));
        crl.Services.Publisher.PublishAll(delta: false, scheduled: true);
        crl.Services.Publisher.PublishAll(delta: true, scheduled: true);

        foreach (var (series, delta) in new[] { (Full, false), (Full, true), (Arl, false), (Yamaguchi, false), (Yamaguchi, true), (Ube, false) })
        {
            var path = crl.Snapshot(crl.PathOf(series, delta), $"every-kind-{series.Kind}-{delta}.crl");
            var openssl = ExternalProcess.Run("openssl", "crl", "-inform", "DER", "-in", path, "-CAfile", crl.RootPem, "-noout", "-verify");
            Assert.True(openssl.ExitCode == 0 && openssl.Output.Contains("verify OK", StringComparison.Ordinal), $"{series} {delta}: {openssl.Output}");
            var info = ExternalProcess.Run("certtool", "--crl-info", "--inder", "--infile", path);
            Assert.True(info.ExitCode == 0, info.Output);
            Assert.Contains("Version: 2", info.Output, StringComparison.Ordinal);
            // --inder would apply to the CA certificate too: certtool verifies the PEM form.
            var verify = ExternalProcess.Run("certtool", "--verify-crl", "--infile", crl.ToPem(path, $"every-kind-{series.Kind}-{delta}"), "--load-ca-certificate", crl.RootPem);
            Assert.True(verify.ExitCode == 0, $"{series} {delta}: {verify.Output}");
        }

        var full = ExternalProcess.Run("openssl", "crl", "-inform", "DER", "-in", crl.PathOf(Full), "-noout", "-text");
        Assert.Contains("Delta CRL Indicator", ExternalProcess.Run("openssl", "crl", "-inform", "DER", "-in", crl.PathOf(Full, delta: true), "-noout", "-text").Output, StringComparison.Ordinal);
        Assert.Contains($"/crl/{CrlFixture.SigningKey}/delta.crl", full.Output, StringComparison.Ordinal);
        Assert.Contains("Cessation Of Operation", full.Output, StringComparison.Ordinal);
        Assert.Contains("Invalidity Date", full.Output, StringComparison.Ordinal);
        Assert.Contains("Jan  4 15:00:00 2026 GMT", full.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PartitionCarriesTheCertificatesCrlDpByteForByteAndOnlyItsMunicipality()
    {
        var inYamaguchi = await crl.IssueAsync("352012");
        var inUbe = await crl.IssueAsync("352039");
        crl.Revoke(inYamaguchi.Serial);
        crl.Revoke(inUbe.Serial);
        crl.Services.Publisher.Publish(Yamaguchi, delta: false, scheduled: false);

        var certificate = X509CertificateLoader.LoadCertificateFromFile(inYamaguchi.PemPath);
        var crlDp = certificate.Extensions["2.5.29.31"]!.RawData;
        var dpName = new AsnReader(crlDp, AsnEncodingRules.DER).ReadSequence().ReadSequence().ReadEncodedValue().ToArray();

        using var stream = File.OpenRead(crl.PathOf(Yamaguchi));
        using var reader = new CrlFileReader(stream);
        reader.ReadPreamble();
        var serials = reader.ReadEntrySerials().ToList();
        var trailer = reader.ReadTrailer(RootSpki());
        Assert.True(trailer.SignatureValid);
        Assert.True(trailer.IdpCritical);
        Assert.Equal(dpName, CrlExtensions.IdpDistributionPointName(trailer.IssuingDistributionPoint!));
        var idp = new AsnReader(trailer.IssuingDistributionPoint, AsnEncodingRules.DER).ReadSequence();
        idp.ReadEncodedValue();
        Assert.True(idp.ReadBoolean(new Asn1Tag(TagClass.ContextSpecific, 1)), "onlyContainsUserCerts");
        Assert.Contains(inYamaguchi.Serial, serials);
        Assert.DoesNotContain(inUbe.Serial, serials);
        Assert.Equal(crl.Scalar("SELECT COUNT(*) FROM certificates WHERE issuer_key_id = @k AND status = 'revoked' AND municipality_code = '352012'", new { k = CrlFixture.SigningKey }), serials.Count);
    }

    [Fact]
    public async Task OpensslVerifyCrlCheckRejectsTheRevokedAndAcceptsTheGoodCertificate()
    {
        var revoked = await crl.IssueAsync("352012");
        var good = await crl.IssueAsync("352012");
        crl.Revoke(revoked.Serial, RevocationCause.MoveOut);
        crl.Services.Publisher.Publish(Yamaguchi, delta: false, scheduled: false);
        var pem = crl.ToPem(crl.PathOf(Yamaguchi), "partition-verify");

        var onRevoked = ExternalProcess.Run("openssl", "verify", "-crl_check", "-CAfile", crl.RootPem, "-CRLfile", pem, revoked.PemPath);
        Assert.NotEqual(0, onRevoked.ExitCode);
        Assert.Contains("certificate revoked", onRevoked.Output, StringComparison.Ordinal);
        var onGood = ExternalProcess.Run("openssl", "verify", "-crl_check", "-CAfile", crl.RootPem, "-CRLfile", pem, good.PemPath);
        Assert.True(onGood.ExitCode == 0, onGood.Output);
    }

    [Fact]
    public async Task DeltaHoldsExactlyTheChangesAfterItsBaseAndOpensslUsesIt()
    {
        var early = await crl.IssueAsync("352012");
        crl.Revoke(early.Serial);
        var complete = crl.Services.Publisher.Publish(Full, delta: false, scheduled: false)!;
        var basePem = crl.ToPem(complete.Path, "delta-base");
        var late = await crl.IssueAsync("352012");
        crl.Revoke(late.Serial, RevocationCause.CardLost);
        var delta = crl.Services.Publisher.Publish(Full, delta: true, scheduled: false)!;
        var deltaPem = crl.ToPem(delta.Path, "delta");

        Assert.True(delta.Number > complete.Number);
        using (var stream = File.OpenRead(delta.Path))
        using (var reader = new CrlFileReader(stream))
        {
            reader.ReadPreamble();
            Assert.Equal([late.Serial], reader.ReadEntrySerials().ToList());
            var trailer = reader.ReadTrailer(RootSpki());
            Assert.Equal(complete.Number, trailer.DeltaBaseNumber);
            Assert.Equal(delta.Number, trailer.Number);
        }

        var expected = crl.Scalar(
            "SELECT COUNT(DISTINCT serial) FROM status_changes WHERE issuer_key_id = @k AND status = 'revoked' AND change_seq > (SELECT max_change_seq FROM crls WHERE issuer_key_id = @k AND scope = 'full' AND number = @n)",
            new { k = CrlFixture.SigningKey, n = complete.Number });
        Assert.Equal(expected, delta.EntryCount);

        // The base alone does not know the late revocation; with the delta, openssl does.
        var baseOnly = ExternalProcess.Run("openssl", "verify", "-crl_check", "-CAfile", crl.RootPem, "-CRLfile", basePem, late.PemPath);
        Assert.True(baseOnly.ExitCode == 0, baseOnly.Output);
        var bundle = Path.Combine(crl.Ca.Root, "base-and-delta.pem");
        File.WriteAllText(bundle, File.ReadAllText(basePem) + File.ReadAllText(deltaPem));
        var withDelta = ExternalProcess.Run("openssl", "verify", "-crl_check", "-use_deltas", "-CAfile", crl.RootPem, "-CRLfile", bundle, late.PemPath);
        Assert.NotEqual(0, withDelta.ExitCode);
        Assert.Contains("certificate revoked", withDelta.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void NumbersRiseAcrossTwoPublisherInstancesOnOneStore()
    {
        using var loggers = Microsoft.Extensions.Logging.LoggerFactory.Create(_ => { });
        using var second = CrlPublisherServices.Open(crl.Settings, crl.Ca.Module, TimeProvider.System, loggers);
        var numbers = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            numbers.Add(crl.Services.Publisher.Publish(Full, delta: false, scheduled: false)!.Number);
            numbers.Add(second.Publisher.Publish(Full, delta: true, scheduled: false)!.Number);
        }

        // Concurrently too: each build gets its own number, or steps aside for a newer snapshot.
        var parallel = new[] { crl.Services.Publisher, second.Publisher, crl.Services.Publisher, second.Publisher }
            .AsParallel()
            .Select(p =>
            {
                try
                {
                    return p.Publish(Full, delta: false, scheduled: false)?.Number;
                }
                catch (CrlSupersededException)
                {
                    return null;
                }
            })
            .Where(n => n is not null)
            .Select(n => n!.Value)
            .ToList();

        Assert.Equal(numbers.Order(), numbers);
        Assert.Equal(numbers.Count, numbers.Distinct().Count());
        Assert.All(parallel, n => Assert.True(n > numbers[^1]));
        Assert.Equal(parallel.Count, parallel.Distinct().Count());
        var archived = crl.Scalar("SELECT COUNT(*) FROM crls WHERE issuer_key_id = @k AND scope = 'full'", new { k = CrlFixture.SigningKey });
        Assert.Equal(archived, crl.Scalar("SELECT COUNT(DISTINCT number) FROM crls WHERE issuer_key_id = @k AND scope = 'full'", new { k = CrlFixture.SigningKey }));
        Assert.True(numbers[0] >= DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds(), "cRLNumber starts from thisUpdate in Unix ms");
    }

    [Fact]
    public async Task ArchiveAuditAndFirstListingAreRecorded()
    {
        var leaf = await crl.IssueAsync("352039");
        crl.Revoke(leaf.Serial);
        var published = crl.Services.Publisher.Publish(Ube, delta: false, scheduled: false)!;
        var later = crl.Services.Publisher.Publish(Full, delta: false, scheduled: false)!;

        Assert.Equal(1, crl.Scalar(
            "SELECT COUNT(*) FROM crls WHERE issuer_key_id = @k AND scope = 'm/352039' AND number = @n AND sha256 = @h AND size_bytes = @s AND entry_count = @c",
            new { k = CrlFixture.SigningKey, n = published.Number, h = published.Sha256, s = new FileInfo(published.Path).Length, c = published.EntryCount }));
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(published.Path))), published.Sha256);
        Assert.Equal(1, crl.Scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'crl.published' AND subject = @s AND details LIKE @n",
            new { s = $"{CrlFixture.SigningKey}/m/352039.crl", n = $"%\"number\":{published.Number},%" }));
        using var db = crl.Services.Database.OpenConnection();
        var first = CrlStore.FirstListing(db, leaf.Serial)!;
        Assert.Equal(published.Number, first.Number);
        Assert.Equal("m/352039", first.Scope);
        Assert.Equal(Jpki.Core.Store.Instant.ToMicros(published.ThisUpdate), first.ThisUpdateUs);
        Assert.NotNull(later);
    }

    [Fact]
    public async Task AFailedCheckPublishesNothingAndRaisesAnAlarm()
    {
        var leaf = await crl.IssueAsync("352012");
        crl.Revoke(leaf.Serial);
        var before = crl.Services.Publisher.Publish(Full, delta: false, scheduled: false)!;
        var bytes = File.ReadAllBytes(before.Path);
        var archived = crl.Scalar("SELECT COUNT(*) FROM crls");
        var alarms = crl.Scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'crl.alarm.check-failed'");

        // One flipped bit in the signature.
        crl.Damage = path =>
        {
            var damaged = File.ReadAllBytes(path);
            damaged[^5] ^= 0x01;
            File.WriteAllBytes(path, damaged);
        };
        try
        {
            var failure = Assert.Throws<CrlCheckFailedException>(() => crl.Services.Publisher.Publish(Full, delta: false, scheduled: false));
            Assert.Contains("signature", failure.Message, StringComparison.Ordinal);
        }
        finally
        {
            crl.Damage = null;
        }

        Assert.Equal(bytes, File.ReadAllBytes(before.Path));
        Assert.Equal(archived, crl.Scalar("SELECT COUNT(*) FROM crls"));
        Assert.Equal(alarms + 1, crl.Scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'crl.alarm.check-failed'"));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(before.Path)!, "*.tmp"));
    }

    [Fact]
    public async Task ACompleteCrlThatLosesAnEntryThatMustStayIsRefused()
    {
        var leaf = await crl.IssueAsync("352012");
        crl.Revoke(leaf.Serial);
        var before = crl.Services.Publisher.Publish(Full, delta: false, scheduled: true)!;
        var bytes = File.ReadAllBytes(before.Path);

        // A store bug that forgets a revocation: the next complete CRL would silently drop it.
        var saved = crl.Scalar("SELECT revoked_at_us FROM certificates WHERE serial = @s", new { s = leaf.Serial });
        crl.Execute("UPDATE certificates SET status = 'good', revoked_at_us = NULL WHERE serial = @s", new { s = leaf.Serial });
        try
        {
            var failure = Assert.Throws<CrlCheckFailedException>(() => crl.Services.Publisher.Publish(Full, delta: false, scheduled: true));
            Assert.Contains(leaf.Serial, failure.Message, StringComparison.Ordinal);
        }
        finally
        {
            crl.Execute("UPDATE certificates SET status = 'revoked', revoked_at_us = @t WHERE serial = @s", new { s = leaf.Serial, t = saved });
        }

        Assert.Equal(bytes, File.ReadAllBytes(before.Path));
    }

    [Fact]
    public async Task AnExpiredEntryLeavesOnlyAfterAScheduledCompleteCrlAfterItsNotAfterListedIt()
    {
        var leaf = await crl.IssueAsync("352039");
        crl.Revoke(leaf.Serial);
        crl.Execute("UPDATE certificates SET not_after_us = @t WHERE serial = @s", new { s = leaf.Serial, t = Jpki.Core.Store.Instant.NowMicros(TimeProvider.System) - 3_600_000_000L });

        // On-demand CRLs after notAfter do not count: only a scheduled one lets the entry go.
        Assert.Contains(leaf.Serial, Serials(crl.Services.Publisher.Publish(Ube, delta: false, scheduled: false)!.Path));
        Assert.Contains(leaf.Serial, Serials(crl.Services.Publisher.Publish(Ube, delta: false, scheduled: false)!.Path));
        Assert.Contains(leaf.Serial, Serials(crl.Services.Publisher.Publish(Ube, delta: false, scheduled: true)!.Path));
        // The scheduled CRL above was issued after notAfter and listed it: now it may go (and the check agrees).
        Assert.DoesNotContain(leaf.Serial, Serials(crl.Services.Publisher.Publish(Ube, delta: false, scheduled: false)!.Path));
    }

    [Fact]
    public async Task AReaderPollingDuringRepeatedPublishingNeverSeesAPartialFile()
    {
        var leaf = await crl.IssueAsync("352012");
        crl.Revoke(leaf.Serial);
        crl.Services.Publisher.Publish(Full, delta: false, scheduled: false);
        var path = crl.PathOf(Full);
        using var stop = new CancellationTokenSource();
        var reads = 0;
        var reader = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var crlReader = new CrlFileReader(stream);
                crlReader.ReadPreamble();
                Assert.True(crlReader.ReadTrailer(RootSpki()).SignatureValid);
                reads++;
            }
        });
        for (var i = 0; i < 8; i++)
        {
            crl.Services.Publisher.Publish(Full, delta: false, scheduled: false);
        }

        await stop.CancelAsync();
        await reader;
        Assert.True(reads > 0);
    }

    [Fact]
    public async Task ReasonUnspecifiedHasNoReasonCode()
    {
        var leaf = await crl.IssueAsync("352012");
        crl.Revoke(leaf.Serial, RevocationCause.RecordError);
        crl.Services.Publisher.Publish(Yamaguchi, delta: false, scheduled: false);
        var text = ExternalProcess.Run("openssl", "crl", "-inform", "DER", "-in", crl.PathOf(Yamaguchi), "-noout", "-text").Output;
        var at = text.IndexOf(leaf.Serial.ToUpperInvariant(), StringComparison.Ordinal);
        Assert.True(at > 0, text);
        var next = text.IndexOf("Serial Number", at, StringComparison.Ordinal);
        var entry = next < 0 ? text[at..] : text[at..next];
        Assert.DoesNotContain("Reason Code", entry, StringComparison.Ordinal);
        Assert.DoesNotContain("Invalidity Date", entry, StringComparison.Ordinal);
    }

    [Fact]
    public void ThisUpdateIsBackdatedButNeverBeforeTheIssuerCertificateNorInTheFuture()
    {
        // The fixture's ceremony ran moments ago, well within the 5-minute backdate.
        var published = crl.Services.Publisher.Publish(Full, delta: false, scheduled: false)!;
        var root = X509CertificateLoader.LoadCertificateFromFile(crl.RootPem);
        using var stream = File.OpenRead(published.Path);
        using var reader = new CrlFileReader(stream);
        var preamble = reader.ReadPreamble();
        Assert.True(preamble.ThisUpdate >= new DateTimeOffset(root.NotBefore.ToUniversalTime()), $"{preamble.ThisUpdate:O} is before the root's notBefore {root.NotBefore.ToUniversalTime():O}");
        Assert.True(preamble.ThisUpdate <= DateTimeOffset.UtcNow);
        Assert.Equal(published.ThisUpdate + TimeSpan.FromHours(48), preamble.NextUpdate);
    }

    private static List<string> Serials(string path)
    {
        using var stream = File.OpenRead(path);
        using var reader = new CrlFileReader(stream);
        reader.ReadPreamble();
        return reader.ReadEntrySerials().ToList();
    }

    private byte[] RootSpki() => X509CertificateLoader.LoadCertificateFromFile(crl.RootPem).PublicKey.ExportSubjectPublicKeyInfo();
}
