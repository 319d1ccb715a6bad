using System.Formats.Asn1;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// Issue 20: the clock steps back a minute between two publications (an NTP step after the clock
/// ran fast). The second publication of every series must not have a thisUpdate before the first
/// one's, its number must still be higher, and openssl must verify it.
/// </summary>
[Collection(CrlTestGroup.Name)]
public sealed class ClockStepTests(CrlFixture crl)
{
    /// <remarks>
    /// Ten minutes is more than the 300 s backdate: the held thisUpdate is then after the stepped
    /// clock's now, which the publisher's own check must accept (it failed in CI when a fresh
    /// issuer key made the one-minute case land there too).
    /// </remarks>
    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    public void A_clock_stepped_back_publishes_crls_whose_this_update_and_number_do_not_go_back(int minutes)
    {
        var full = new CrlSeries(CrlFixture.SigningKey, CrlScopeKind.Full);
        var first = crl.Services.Publisher.PublishAll(delta: false, scheduled: false).ToDictionary(p => (p.Series, p.Delta));
        var firstFull = crl.Snapshot(crl.PathOf(full), "clock-step-first.crl");

        using var stepped = new Jpki.Core.Store.Database("Data Source=" + crl.Ca.DatabasePath, new ShiftedTime(TimeSpan.FromMinutes(-minutes)));
        var publisher = new SeriesPublisher(stepped, crl.Services.Audit, crl.Services.Publisher.IssuerKeys, CrlPublisherServices.OptionsFrom(crl.Settings));
        var second = publisher.PublishAll(delta: false, scheduled: false);
        var deltas = publisher.PublishAll(delta: true, scheduled: false);

        Assert.NotEmpty(second);
        foreach (var crlAfter in second.Concat(deltas))
        {
            var before = first[(crlAfter.Series, false)];
            Assert.True(crlAfter.ThisUpdate >= before.ThisUpdate, $"{crlAfter.Series} {(crlAfter.Delta ? "delta" : "complete")}: thisUpdate {crlAfter.ThisUpdate:O} is before the previous {before.ThisUpdate:O}");
            Assert.True(crlAfter.Number > before.Number, $"{crlAfter.Series}: number {crlAfter.Number} not above {before.Number}");
        }

        // What relying parties read: the file's own thisUpdate and number, and its signature.
        var path = crl.Snapshot(crl.PathOf(full), "clock-step-second.crl");
        Assert.True(ThisUpdateOf(path) >= ThisUpdateOf(firstFull), $"file thisUpdate {ThisUpdateOf(path):O} before {ThisUpdateOf(firstFull):O}");
        var openssl = ExternalProcess.Run("openssl", "crl", "-inform", "DER", "-in", path, "-CAfile", crl.RootPem, "-noout", "-verify");
        Assert.True(openssl.ExitCode == 0 && openssl.Output.Contains("verify OK", StringComparison.Ordinal), openssl.Output);
    }

    /// <summary>thisUpdate read from the DER with the runtime's ASN.1 reader, not the publisher's.</summary>
    private static DateTimeOffset ThisUpdateOf(string path)
    {
        var reader = new AsnReader(File.ReadAllBytes(path), AsnEncodingRules.DER).ReadSequence();
        var tbs = reader.ReadSequence();
        if (tbs.PeekTag() == Asn1Tag.Integer)
        {
            tbs.ReadInteger();
        }

        tbs.ReadSequence(); // signature algorithm
        tbs.ReadSequence(); // issuer
        return tbs.PeekTag() == Asn1Tag.UtcTime ? tbs.ReadUtcTime() : tbs.ReadGeneralizedTime();
    }
}
