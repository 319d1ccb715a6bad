using Microsoft.Extensions.Logging.Abstractions;

namespace Jpki.CrlPublisher.Tests;

/// <summary>The Quartz jobs do what the schedule means: scheduled complete CRLs of every series, then deltas.</summary>
[Collection(CrlTestGroup.Name)]
public sealed class ScheduleJobTests(CrlFixture crl)
{
    [Fact]
    public async Task TheCompleteJobPublishesAScheduledCompleteCrlOfEverySeriesAndTheDeltaJobTheirDeltas()
    {
        await crl.IssueAsync("352012");
        var series = crl.Services.Publisher.AllSeries();
        var scheduledBefore = crl.Scalar("SELECT COUNT(*) FROM crls WHERE kind = 'complete' AND scheduled = 1");
        var deltasBefore = crl.Scalar("SELECT COUNT(*) FROM crls WHERE kind = 'delta'");

        await new CompleteCrlJob(crl.Services, NullLogger<CompleteCrlJob>.Instance).Execute(null!, CancellationToken.None);
        Assert.Equal(scheduledBefore + series.Count, crl.Scalar("SELECT COUNT(*) FROM crls WHERE kind = 'complete' AND scheduled = 1"));

        await new DeltaCrlJob(crl.Services, NullLogger<DeltaCrlJob>.Instance).Execute(null!, CancellationToken.None);
        Assert.Equal(deltasBefore + series.Count(s => s.HasDeltas), crl.Scalar("SELECT COUNT(*) FROM crls WHERE kind = 'delta'"));
        Assert.Contains(series, s => s.Kind == CrlScopeKind.Municipality && s.MunicipalityCode == "352012");
    }

    [Fact]
    public async Task AMunicipalitysFirstCertificateGetsItsPartitionCrlAtTheNextDeltaRun()
    {
        var leaf = await crl.IssueAsync("352021");
        var partition = new CrlSeries(CrlFixture.SigningKey, CrlScopeKind.Municipality, "352021");
        Assert.Equal(leaf.Municipality, partition.MunicipalityCode);

        await new DeltaCrlJob(crl.Services, NullLogger<DeltaCrlJob>.Instance).Execute(null!, CancellationToken.None);
        Assert.True(File.Exists(crl.PathOf(partition)), "no complete partition CRL after the delta run");
        Assert.Equal(1, crl.Scalar("SELECT COUNT(*) FROM crls WHERE scope = 'm/352021' AND kind = 'complete' AND scheduled = 0"));

        await new DeltaCrlJob(crl.Services, NullLogger<DeltaCrlJob>.Instance).Execute(null!, CancellationToken.None);
        Assert.True(File.Exists(crl.PathOf(partition, delta: true)));
    }
}
