using System.Diagnostics;
using System.Formats.Tar;
using System.Net.Http.Headers;
using Jpki.Core;
using Jpki.Core.Store;

namespace Jpki.Ca.Tests;

/// <summary>The auditor's export endpoint: a tar of the bundle that openssl + coreutils verify.</summary>
[Collection(CaTestGroup.Name)]
public sealed class AuditExportTests(CaFixture ca)
{
    [Fact]
    public async Task AnAuditorDownloadsABundleThatVerifiesWithOpensslAndOthersAreRefused()
    {
        var today = Instant.ToDateText(Jst.DateOf(DateTimeOffset.UtcNow));
        var path = $"api/v1/audit/export?from={Instant.ToDateText(Jst.DateOf(DateTimeOffset.UtcNow).AddDays(-2))}&to={today}";

        var (forbidden, problem, _) = await ca.SendAsync(HttpMethod.Get, path, "officer1");
        Assert.Equal(403, forbidden);
        Assert.Equal("urn:jpki:problem:forbidden", problem.GetProperty("type").GetString());
        var (invalid, _, _) = await ca.SendAsync(HttpMethod.Get, "api/v1/audit/export?from=2026-13-01&to=2026-01-01", "auditor");
        Assert.Equal(422, invalid);
        var (none, nothing, _) = await ca.SendAsync(HttpMethod.Get, "api/v1/audit/export?from=2001-01-01&to=2001-01-31", "auditor");
        Assert.Equal(404, none);
        Assert.Equal("urn:jpki:problem:audit-nothing-to-export", nothing.GetProperty("type").GetString());

        var exportedBefore = ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'audit.exported'");
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(ca.CaAddress, path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ca.Tokens["auditor"]);
        using var response = await ca.Http.SendAsync(request);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("application/x-tar", response.Content.Headers.ContentType?.MediaType);
        var directory = Directory.CreateTempSubdirectory("jpki-ca-export-").FullName;
        try
        {
            await using (var archive = await response.Content.ReadAsStreamAsync())
            {
                await TarFile.ExtractToDirectoryAsync(archive, directory, overwriteFiles: false);
            }

            var bundle = Directory.GetDirectories(directory).Single();
            Assert.True(File.ReadLines(Path.Combine(bundle, "records.jsonl")).Count() > 5);
            var (exit, output) = Bash(Path.Combine(bundle, "verify.sh"));
            Assert.True(exit == 0, output);
            Assert.Contains("OK: records 1..", output, StringComparison.Ordinal);
            Assert.Equal(exportedBefore + 1, ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'audit.exported' AND actor = 'auditor'"));

            var records = Path.Combine(bundle, "records.jsonl");
            var lines = File.ReadAllLines(records);
            lines[1] = lines[1].Replace("\"actor\":\"", "\"actor\":\"x", StringComparison.Ordinal);
            File.WriteAllLines(records, lines);
            (exit, output) = Bash(Path.Combine(bundle, "verify.sh"));
            Assert.NotEqual(0, exit);
            Assert.Contains("FAILED: record 2 was altered: its line does not hash to the prev of record 3", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static (int ExitCode, string Output) Bash(string script)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(script);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
