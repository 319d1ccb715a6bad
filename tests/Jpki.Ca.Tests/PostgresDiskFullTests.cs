using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Ca.Accounts;
using Npgsql;

namespace Jpki.Ca.Tests;

/// <summary>
/// Issue 20, decision 0820: the CA's store on a real PostgreSQL whose database lives in a
/// tablespace on a small tmpfs of its own (the WAL stays in the server's data directory, as on a
/// server with a separate WAL volume), filled to the last block by <see cref="FullDisk"/>. Every
/// table is set to fillfactor 10 first, so that every insert needs a new block: the first write
/// after the fill is refused (53100 disk_full), not the tenth, as <c>wal_checkpoint(TRUNCATE)</c>
/// makes it for SQLite in <see cref="DiskFullTests"/>. The CA is a real process; the Juki-Net
/// simulator is the collection's. Nothing is restarted once space is back.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class PostgresDiskFullTests(CaFixture ca) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly ProcessInstall install = new("jpki-pg-disk-full-", ca.ModulePath);
    private readonly string suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
    private readonly PostgresServer server = PostgresServer.Shared;
    private ServiceProcess caProcess = null!;
    private string operatorToken = "";

    private string Home => install.Home;

    private string Space => Path.Combine(install.Root, "tablespace");

    private string Filler => Path.Combine(Space, "filler");

    private string DatabaseName => "jpki_full_" + suffix;

    private string TablespaceName => "jpki_full_ts_" + suffix;

    private string ConnectionString => new NpgsqlConnectionStringBuilder(server.ConnectionString) { Database = DatabaseName, Pooling = false }.ToString();

    public async Task InitializeAsync()
    {
        // The server runs as postgres: it must reach the tablespace's directory and own it.
        File.SetUnixFileMode(install.Root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        FullDisk.Mount(Space, 48, owner: "postgres");
        server.Execute($"CREATE TABLESPACE {TablespaceName} LOCATION '{Space}'");
        server.Execute($"CREATE DATABASE {DatabaseName} TABLESPACE {TablespaceName}");

        install.WriteSettings(new JsonObject { ["database"] = new NpgsqlConnectionStringBuilder(server.ConnectionString) { Database = DatabaseName }.ToString() });
        install.RunCeremony();

        // A home made for PostgreSQL (as ./jpki up --postgres makes it) keeps the file it was given: add the simulator's address.
        install.EditSettings(json =>
        {
            json["urls"] ??= new JsonObject();
            json["urls"]!["jukiNet"] = ca.SimulatorAddress.ToString().TrimEnd('/');
        });
        Execute("""
            DO $$ DECLARE t record; BEGIN
              FOR t IN SELECT schemaname, tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
                EXECUTE format('ALTER TABLE %I.%I SET (fillfactor = 10)', t.schemaname, t.tablename);
              END LOOP;
            END $$
            """);

        caProcess = await install.StartCaAsync();
        operatorToken = install.TokenOf("operator");
    }

    public async Task DisposeAsync()
    {
        await install.StopAsync();
        NpgsqlConnection.ClearAllPools();
        server.Execute($"DROP DATABASE IF EXISTS {DatabaseName} WITH (FORCE)");
        server.Execute($"DROP TABLESPACE IF EXISTS {TablespaceName}");
        FullDisk.Unmount(Space);
        install.DeleteRoot();
    }

    /// <summary>
    /// On the full tablespace: issuance and revocation answer 503 <c>storage-full</c> with
    /// Retry-After, saying nothing was issued or revoked, and nothing of them is stored (no
    /// certificate, no audit record, no signature intent); Juki-Net deaths are not applied (the
    /// feed says why); <c>/healthz</c> is degraded with <c>storage.status</c> full and the count,
    /// the metrics count the refusals. Once space is back, the same process records one
    /// <c>store.storage-full</c> audit record counting exactly the refusals, says ok, applies each
    /// death once, issues and revokes again; every certificate has its issuance record, no intent
    /// is open, <c>audit signatures</c> and <c>audit verify</c> exit 0.
    /// </summary>
    [Fact]
    public async Task Issuance_revocation_and_feed_on_a_full_postgresql_tablespace_are_refused_typed_leave_nothing_half_written_and_recover_without_a_restart()
    {
        var clock = Stopwatch.StartNew();
        var dying = new List<(string Code, string Serial)>();
        for (var i = 0; i < 2; i++)
        {
            var code = await ca.AddResidentAsync();
            dying.Add((code, await IssueOkAsync(code)));
        }

        var holder = await ca.AddResidentAsync();
        var toRevoke = await IssueOkAsync(holder);
        await UntilAsync(HealthAsync, h => h.Code == 200 && h.Body.GetProperty("feed").GetProperty("state").GetString() == "following");
        var pid = caProcess!.Id;
        var before = await UntilAsync(async () => { var first = Counts(); await Task.Delay(1200); return (First: first, Then: Counts()); }, c => c.First == c.Then);

        var filled = FullDisk.Fill(Filler);
        var refusals = new List<(int Status, string Body, string? RetryAfter)>();
        (int Code, JsonElement Body) degraded;
        PrometheusText metrics;
        StoreCounts whileFull;
        try
        {
            foreach (var (code, _) in dying)
            {
                await ca.ChangeResidentAsync(code, "death");
            }

            for (var i = 0; i < 3; i++)
            {
                refusals.Add(await TryIssueAsync(await ca.AddResidentAsync()));
            }

            refusals.Add(await TryRevokeAsync(toRevoke, holder));
            degraded = await UntilAsync(HealthAsync, h => h.Code == 503 && h.Body.GetProperty("feed").GetProperty("state").GetString() == "failing");
            metrics = await PrometheusText.ScrapeAsync(ca.Http, caProcess.Address, m => m.Of("jpki_ca_store_full_refusals_total").Any());
            whileFull = Counts();
        }
        finally
        {
            File.Delete(Filler);
        }

        Assert.True(filled > 0, "nothing could be written to fill the tablespace");
        foreach (var (status, body, retryAfter) in refusals)
        {
            Assert.True(status == 503, $"{status}: {body}");
            var problem = JsonDocument.Parse(body).RootElement;
            Assert.Equal("urn:jpki:problem:storage-full", problem.GetProperty("type").GetString());
            Assert.Contains("nothing was issued, revoked or recorded", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.Equal("30", retryAfter);
        }

        // Nothing of the refused writes is in the store: no row, no record, no intent, no event.
        Assert.Equal(before.Then, whileFull);
        var storage = degraded.Body.GetProperty("storage");
        Assert.Equal("degraded", degraded.Body.GetProperty("status").GetString());
        Assert.Equal("full", storage.GetProperty("status").GetString());
        Assert.Contains("53100", storage.GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.True(storage.GetProperty("refused").GetInt64() >= refusals.Count + 1, degraded.Body.ToString());
        Assert.Contains("53100", degraded.Body.GetProperty("feed").GetProperty("lastError").GetString() ?? "", StringComparison.Ordinal);
        Assert.True(metrics.Sum("jpki_ca_store_full_refusals_total", "operation=request") >= refusals.Count, metrics.Text);
        Assert.True(metrics.Sum("jpki_ca_store_full_refusals_total", "operation=feed") >= 1, metrics.Text);
        Assert.Equal(1, metrics.Sum("jpki_ca_store_full"));

        // Space is back: no restart; the refusals are recorded once, health is ok, the deaths are applied once.
        var ok = await UntilAsync(HealthAsync, h => h.Code == 200 && h.Body.GetProperty("storage").GetProperty("status").GetString() == "ok");
        Assert.Equal(0, ok.Body.GetProperty("storage").GetProperty("refused").GetInt64());
        await UntilAsync(() => Task.FromResult(dying.All(d => Scalar($"SELECT COUNT(*) FROM certificates WHERE serial = '{d.Serial}' AND status = 'revoked'") == 1)), done => done);
        var issued = await IssueOkAsync(await ca.AddResidentAsync());
        var revoked = await TryRevokeAsync(toRevoke, holder);
        Assert.True(revoked.Status == 201, revoked.Body);
        Assert.Equal(pid, caProcess.Id);
        Assert.False(caProcess.HasExited);

        var recorded = Scalar($"SELECT COALESCE(SUM((details::jsonb->>'refused')::bigint), 0) FROM audit_log WHERE action = '{StoreSpaceWatch.RecoveredAction}'");
        var refusedWhileFull = storage.GetProperty("refused").GetInt64();
        Assert.True(recorded >= refusedWhileFull, $"{recorded} refusals recorded, {refusedWhileFull} seen while full");
        Assert.Equal(1, Scalar($"SELECT COUNT(*) FROM audit_log WHERE action = '{StoreSpaceWatch.RecoveredAction}'"));
        foreach (var (_, serial) in dying)
        {
            Assert.Equal(1, Scalar($"SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.revoked' AND subject = '{serial}'"));
        }

        Assert.Equal(Scalar("SELECT COUNT(*) FROM jukinet_events"), Scalar("SELECT COUNT(DISTINCT sequence) FROM jukinet_events"));
        Assert.Equal(0, Scalar("SELECT COUNT(*) FROM certificates c WHERE c.kind IN ('signing', 'authentication') AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.action = 'certificate.issued' AND a.subject = c.serial)"));
        Assert.Equal(0, Scalar("SELECT COUNT(*) FROM signature_intents WHERE outcome IS NULL"));
        Assert.Equal(1, Scalar($"SELECT COUNT(*) FROM certificates WHERE serial = '{issued}'"));
        // The two audit tools read only: run side by side (each is a process start on a loaded machine).
        var tools = await Task.WhenAll(
            Task.Run(() => RunTool("audit", "signatures", "--grace-seconds", "0")),
            Task.Run(() => RunTool("audit", "verify")));
        Assert.All(tools, t => Assert.True(t.ExitCode == 0, t.ToString()));
        AccessMatrix.Report($"fault disk-full postgresql: full tablespace ({filled / 1024} KiB filler): {refusals.Count} of {refusals.Count} issuances and revocations answered 503 storage-full (53100), nothing stored; feed failing, /healthz degraded storage full ({refusedWhileFull} refusals), metric counted; space back, no restart: 1 store.storage-full record ({recorded} refusals), 2 deaths applied once, issued and revoked again, no open intent, audit signatures and verify OK ({clock.Elapsed.TotalSeconds:0} s)");
    }

    private sealed record StoreCounts(long Certificates, long AuditRecords, long Intents, long Events, long Revoked);

    private StoreCounts Counts() => new(
        Scalar("SELECT COUNT(*) FROM certificates"),
        Scalar("SELECT COUNT(*) FROM audit_log WHERE action IN ('signature.intended', 'signature.discarded', 'certificate.issued', 'certificate.revoked', 'jukinet.event-applied')"),
        Scalar("SELECT COUNT(*) FROM signature_intents"),
        Scalar("SELECT COUNT(*) FROM jukinet_events"),
        Scalar("SELECT COUNT(*) FROM certificates WHERE status = 'revoked'"));

    private async Task<string> IssueOkAsync(string code)
    {
        var (status, body, _) = await TryIssueAsync(code);
        Assert.True(status == 201, $"{status}: {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("serial").GetString()!;
    }

    private async Task<(int Status, string Body, string? RetryAfter)> TryIssueAsync(string code) =>
        await SendAsync("api/v1/certificates", new { residentCode = code, kind = "authentication", csr = SoftwareCards.Csr(), windowId = "WIN00001A", jukiSequence = 0, cardExpiry = "2035-03-31" });

    private async Task<(int Status, string Body, string? RetryAfter)> TryRevokeAsync(string serial, string holder) =>
        await SendAsync($"api/v1/certificates/{serial}/revocations", new { cause = "cardLost", residentCode = holder });

    private async Task<(int Status, string Body, string? RetryAfter)> SendAsync(string path, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(caProcess!.Address, path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", operatorToken);
        request.Content = JsonContent.Create(body);
        using var response = await ca.Http.SendAsync(request);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers.RetryAfter?.ToString());
    }

    private Task<(int Code, JsonElement Body)> HealthAsync() =>
        ProcessInstall.GetJsonAsync(ca.Http, caProcess!.Address, "healthz");

    private ProcessResult RunTool(params string[] arguments) => install.RunTool(arguments);

    private static Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done) => Eventually.ReachesAsync(read, done, Patience);

    private void Execute(string sql)
    {
        using var connection = new NpgsqlConnection(ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private long Scalar(string sql)
    {
        using var connection = new NpgsqlConnection(ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
