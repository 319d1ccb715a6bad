using System.Text.Json;
using Jpki.Core;
using Jpki.Core.Store;

namespace Jpki.Ocsp.Tests;

/// <summary>The archive job inside the running responder (SQLite install): a pass archives an old day, and /healthz shows the archive.</summary>
[Collection(OcspTestGroup.Name)]
public sealed class OcspArchiveJobTests(OcspFixture fixture)
{
    [Fact]
    public async Task A_pass_of_the_responders_archive_job_archives_a_day_past_the_hot_window_and_healthz_shows_directory_and_size()
    {
        // A day 40 JST days ago, unique to this test: the other tests' queries are all of today.
        var day = Jst.DateOf(DateTimeOffset.UtcNow).AddDays(-40);
        var at = Instant.ToMicros(Jst.StartOfDay(day).AddHours(5));
        using (var tx = fixture.Database.BeginWrite())
        {
            OcspStore.AppendQueries(tx, [new OcspQueryRecord(OcspFixture.Verifier, fixture.SigningKeyId, "0d01", "good", false, at), new OcspQueryRecord(OcspFixture.Verifier, fixture.SigningKeyId, "0d02", "revoked", false, at + 1)]);
            tx.Commit();
        }

        var made = Assert.Single(fixture.Service<OcspArchiveJob>().RunOnce());
        Assert.Equal(day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), made.Day);
        Assert.Equal(2, made.RowCount);
        Assert.Equal(0, fixture.Count("SELECT COUNT(*) FROM ocsp_queries WHERE serial IN ('0d01', '0d02')"));
        Assert.Equal(1, fixture.Count("SELECT COUNT(*) FROM audit_log WHERE action = 'ocsp.queries-archived' AND seq = @seq", new { seq = made.AuditSeq }));

        using var response = await fixture.Http.GetAsync(new Uri(fixture.Address, "healthz"));
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var archive = json.RootElement.GetProperty("archive");
        var directory = fixture.Settings.Resolve(fixture.Settings.Ocsp.Archive.Directory);
        Assert.True(archive.GetProperty("enabled").GetBoolean());
        Assert.Equal(directory, archive.GetProperty("directory").GetString());
        Assert.True(archive.GetProperty("files").GetInt64() >= 1, archive.ToString());
        Assert.Equal(
            Directory.GetFiles(directory, "ocsp-queries-*.jsonl.gz").Sum(f => new FileInfo(f).Length),
            archive.GetProperty("bytes").GetInt64());
        Assert.Equal(JsonValueKind.Null, archive.GetProperty("lastError").ValueKind);
        Assert.True(File.Exists(Path.Combine(directory, made.FileName)));
    }
}
