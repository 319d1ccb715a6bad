using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Ca.Accounts;
using Npgsql;

namespace Jpki.Ca.Tests;

/// <summary>
/// Issue 20, decision 0824: the CA's store on a PostgreSQL cluster of the test's own whose WAL
/// (<c>initdb --waldir</c>, 1 MiB segments) is a tmpfs of its own, filled to the last block by
/// <see cref="FullDisk"/>. The segments the server keeps ready are used up first (a row and a
/// <c>pg_switch_wal()</c> each), so the next WAL write must create a segment: the backend PANICs,
/// the postmaster ends every session, its recovery cannot write either and the server stops. The
/// CA is a real process; nothing of it is restarted.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class PostgresWalFullTests(CaFixture ca) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly ProcessInstall install = new("jpki-pg-wal-full-", ca.ModulePath);
    private RestartablePostgresServer server = null!;
    private ServiceProcess caProcess = null!;
    private string storeConnection = "";
    private string operatorToken = "";

    private string Home => install.Home;

    private string WalVolume => Path.Combine(install.Root, "wal");

    private string WalDirectory => Path.Combine(WalVolume, "pg_wal");

    private string Filler => Path.Combine(WalVolume, "filler");

    public async Task InitializeAsync()
    {
        // The server runs as postgres: it must reach the WAL volume and own it.
        File.SetUnixFileMode(install.Root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        FullDisk.Mount(WalVolume, 32, owner: "postgres");
        server = PostgresServer.StartPrivate(WalDirectory);
        server.Execute("CREATE DATABASE jpki_wal");
        storeConnection = new NpgsqlConnectionStringBuilder(server.ConnectionString) { Database = "jpki_wal" }.ToString();
        Directory.CreateDirectory(Home);
        Jpki.Core.Configuration.JpkiSettings.Load(Home); // writes the defaults
        install.EditSettings(json =>
        {
            json["database"] = storeConnection;
            json["urls"]!["jukiNet"] = ca.SimulatorAddress.ToString().TrimEnd('/');
            json["feed"]!["enabled"] = false;
        });
        install.RunCeremony();
        caProcess = await install.StartCaAsync();
        operatorToken = install.TokenOf("operator");
    }

    public async Task DisposeAsync()
    {
        await install.StopAsync();
        NpgsqlConnection.ClearAllPools();
        try
        {
            // A server left down by a failed run refuses pg_ctl stop: the volume is unmounted all the same.
            server?.Dispose();
        }
        finally
        {
            FullDisk.Unmount(WalVolume);
        }

        install.DeleteRoot();
    }

    /// <summary>
    /// Acknowledged issuances, then the WAL volume full: issuances answer 503
    /// <c>store-unavailable</c> (never 500, never 201) while the server crashes and stays down, and
    /// <c>/healthz</c> says the store is unavailable. Space back and the server started again
    /// (<c>pg_ctl start</c>: crash recovery): the same CA process issues again, and every
    /// certificate acknowledged before is stored with its issuance record.
    /// </summary>
    [Fact]
    public async Task A_full_wal_volume_stops_postgresql_the_ca_answers_store_unavailable_and_recovers_without_a_restart_losing_nothing_acknowledged()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var acknowledged = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            acknowledged.Add(await IssueOkAsync());
        }

        var pid = caProcess.Id;
        var filled = FullDisk.Fill(Filler);
        var switches = UseUpReadySegments();
        var answers = new List<(int Status, string Body)>();
        (int Code, JsonElement Body) down;
        try
        {
            for (var i = 0; i < 4; i++)
            {
                answers.Add(await TryIssueAsync());
            }

            Assert.True(answers.All(a => a.Status == 503), $"{switches} ready segments used up: " + string.Join("; ", answers) + string.Join(",", Directory.EnumerateFileSystemEntries(WalDirectory).Select(Path.GetFileName)));
            down = await Eventually.ReachesAsync(HealthAsync, h => h.Code == 503, Patience);
        }
        finally
        {
            File.Delete(Filler);
        }

        Assert.True(filled > 0, "nothing could be written to fill the WAL volume");
        foreach (var (status, body) in answers)
        {
            Assert.True(status == 503, $"{status}: {body}");
            Assert.Equal("urn:jpki:problem:store-unavailable", JsonDocument.Parse(body).RootElement.GetProperty("type").GetString());
        }

        Assert.NotEqual("ok", down.Body.GetProperty("store").GetString());

        // Space back, the server started again (crash recovery); the CA process is the same.
        server.Start();
        var issued = await Eventually.ReachesAsync(TryIssueAsync, a => a.Status == 201, Patience);
        var ok = await Eventually.ReachesAsync(HealthAsync, h => h.Body.GetProperty("store").GetString() == "ok", Patience);
        Assert.Equal(pid, caProcess.Id);
        Assert.False(caProcess.HasExited);
        foreach (var serial in acknowledged.Append(JsonDocument.Parse(issued.Body).RootElement.GetProperty("serial").GetString()!))
        {
            Assert.Equal(1, Scalar($"SELECT COUNT(*) FROM certificates WHERE serial = '{serial}'"));
            Assert.Equal(1, Scalar($"SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.issued' AND subject = '{serial}'"));
        }

        Assert.Equal(0, Scalar("SELECT COUNT(*) FROM certificates c WHERE c.kind IN ('signing', 'authentication') AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.action = 'certificate.issued' AND a.subject = c.serial)"));
        AccessMatrix.Report($"fault disk-full postgresql-wal: WAL volume full ({filled / 1024} KiB filler, {switches} ready segments used up): server PANIC and down, {answers.Count} of {answers.Count} issuances 503 store-unavailable, /healthz {down.Code} store {down.Body.GetProperty("store")}; space back and pg_ctl start: same CA process issued again, {acknowledged.Count} acknowledged certificates kept ({clock.Elapsed.TotalSeconds:0} s)");
    }

    /// <summary>
    /// Moves the server past the WAL segments it has on disk (a row, then a segment switch, each in
    /// its own transaction, until the segment the next record goes into has no file), so the next
    /// WAL write must create a segment file on the full volume. Returns the switches made.
    /// </summary>
    private int UseUpReadySegments()
    {
        using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(server.ConnectionString) { Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "CREATE TABLE IF NOT EXISTS wal_steps (at timestamptz)";
        command.ExecuteNonQuery();
        for (var switches = 1; switches <= 64; switches++)
        {
            command.CommandText = "INSERT INTO wal_steps VALUES (now())";
            command.ExecuteNonQuery();
            command.CommandText = "SELECT pg_switch_wal()";
            command.ExecuteNonQuery();
            // The segment of the byte after the switch: the one the next record goes into.
            command.CommandText = "SELECT pg_walfile_name(pg_current_wal_lsn() + 1)";
            if (!File.Exists(Path.Combine(WalDirectory, (string)command.ExecuteScalar()!)))
            {
                return switches;
            }
        }

        throw new InvalidOperationException("the server keeps more than 64 WAL segments ready");
    }

    private async Task<string> IssueOkAsync()
    {
        var (status, body) = await TryIssueAsync();
        Assert.True(status == 201, $"{status}: {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("serial").GetString()!;
    }

    private async Task<(int Status, string Body)> TryIssueAsync()
    {
        var code = await ca.AddResidentAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(caProcess.Address, "api/v1/certificates"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", operatorToken);
        request.Content = JsonContent.Create(new { residentCode = code, kind = "authentication", csr = SoftwareCards.Csr(), windowId = "WIN00001A", jukiSequence = 0, cardExpiry = "2035-03-31" });
        using var response = await ca.Http.SendAsync(request);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private Task<(int Code, JsonElement Body)> HealthAsync() =>
        ProcessInstall.GetJsonAsync(ca.Http, caProcess.Address, "healthz");

    private long Scalar(string sql)
    {
        using var connection = new NpgsqlConnection(storeConnection);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
