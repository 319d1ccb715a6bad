using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Jpki.JukiNet;

namespace Jpki.Cli.Tests;

/// <summary>
/// <c>./jpki residents list|show</c> against a real simulator: the built simulator runs as a child
/// process on its own SQLite file (as <c>./jpki up</c> runs it), a resident is registered and
/// another one dies through its REST API, and the verb reads the file while the simulator keeps
/// running.
/// </summary>
public sealed class ResidentsCliTests : IAsyncLifetime, IDisposable
{
    private readonly DirectoryInfo directory = Directory.CreateTempSubdirectory("jpki-residents-cli-");
    private readonly HttpClient http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private Process? simulator;
    private Uri address = null!;

    private string Database => Path.Combine(directory.FullName, "jukinet-sim.db");

    public async Task InitializeAsync()
    {
        var start = ExternalProcess.Start("dotnet", [TestInstall.BuiltToolPath("jukinet", "Jpki.JukiNet.Simulator"), "--db", Database, "--urls", "http://127.0.0.1:0", "--residents", "60", "--seed", "7"]);
        start.RedirectStandardInput = true;
        simulator = Process.Start(start)!;
        _ = simulator.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (await simulator.StandardOutput.ReadLineAsync(deadline.Token) is { } line)
        {
            const string Listening = "Juki-Net simulator listening on ";
            if (ListeningLine.Urls(line, Listening) is { } url)
            {
                address = new Uri(url.TrimEnd('/') + "/");
                break;
            }
        }

        Assert.NotNull(address);
        _ = simulator.StandardOutput.ReadToEndAsync();
    }

    public async Task DisposeAsync()
    {
        if (simulator is { HasExited: false })
        {
            simulator.Kill(entireProcessTree: true);
            await simulator.WaitForExitAsync();
        }

        simulator?.Dispose();
        directory.Delete(recursive: true);
    }

    public void Dispose() => http.Dispose();

    [Fact]
    public async Task Show_prints_a_registered_resident_and_list_finds_them_by_municipality()
    {
        var code = await RegisterAsync("萩野　花子", "1985-04-12", 2, "山口県萩市江向１－２３", "352047");
        var deceased = await RegisterAsync("萩野　一郎", "1950-01-01", 1, "山口県萩市江向１－２３", "352047");
        using (var death = await http.PostAsJsonAsync(new Uri(address, "api/v1/changes"), new { residentCode = deceased, type = "death", effectiveDate = "2026-11-01" }))
        {
            Assert.True(death.IsSuccessStatusCode, await death.Content.ReadAsStringAsync());
        }

        var show = Residents("show", code);
        Assert.True(show.ExitCode == 0, show.ToString());
        Assert.Contains($"resident code   {code}", show.Stdout, StringComparison.Ordinal);
        Assert.Contains("name            萩野　花子", show.Stdout, StringComparison.Ordinal);
        Assert.Contains("date of birth   1985-04-12 (JPKI form 319850412", show.Stdout, StringComparison.Ordinal);
        Assert.Contains("sex             female (2)", show.Stdout, StringComparison.Ordinal);
        Assert.Contains("address         山口県萩市江向１－２３", show.Stdout, StringComparison.Ordinal);
        Assert.Contains("municipality    352047 萩市", show.Stdout, StringComparison.Ordinal);
        Assert.Contains("status          registered", show.Stdout, StringComparison.Ordinal);

        Assert.Contains("status          deceased", Residents("show", deceased).Stdout, StringComparison.Ordinal);

        var list = Residents("list", "--municipality", "352047", "--limit", "100000");
        Assert.True(list.ExitCode == 0, list.ToString());
        var rows = Rows(list.Stdout);
        Assert.NotEmpty(rows);
        Assert.All(rows, r => Assert.Equal("352047", r[2]));
        Assert.Contains(rows, r => r[0] == code && r[1] == "registered" && r[3] == "1985-04-12" && r[4] == "female" && r[5] == "萩野　花子");
        Assert.Contains(rows, r => r[0] == deceased && r[1] == "deceased");
        Assert.Equal(rows.Select(r => r[0]).Order(StringComparer.Ordinal), rows.Select(r => r[0]));
    }

    [Fact]
    public void List_keeps_to_its_limit_and_defaults_to_all_municipalities()
    {
        var three = Residents("list", "--limit", "3");
        Assert.True(three.ExitCode == 0, three.ToString());
        Assert.Equal(3, Rows(three.Stdout).Count);

        var all = Rows(Residents("list", "--limit", "100000").Stdout);
        Assert.Equal(60, all.Count);
        Assert.True(all.Select(r => r[2]).Distinct().Count() > 1, "the generated population spans several municipalities");
        Assert.Equal(20, Rows(Residents("list").Stdout).Count);
    }

    [Fact]
    public void Unknown_malformed_and_missing_are_told_apart()
    {
        var unknown = ResidentCode.FromFirstTen("9999999999").Digits;
        var notFound = Residents("show", unknown);
        Assert.True(notFound.ExitCode == 1, notFound.ToString());
        Assert.Contains($"no resident with code {unknown}", notFound.Stderr, StringComparison.Ordinal);

        var wrongCheckDigit = unknown[..10] + (char)('0' + ((unknown[10] - '0' + 1) % 10));
        var malformed = Residents("show", wrongCheckDigit);
        Assert.True(malformed.ExitCode == 2, malformed.ToString());
        Assert.Contains("check digit", malformed.Stderr, StringComparison.Ordinal);

        var badMunicipality = Residents("list", "--municipality", "35204");
        Assert.True(badMunicipality.ExitCode == 2, badMunicipality.ToString());

        var missing = Path.Combine(directory.FullName, "none.db");
        var noDatabase = RunSimulator("residents", "list", "--db", missing);
        Assert.True(noDatabase.ExitCode == 1, noDatabase.ToString());
        Assert.Contains("no Juki-Net simulator database", noDatabase.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(missing), "listing must not create a database");
    }

    private async Task<string> RegisterAsync(string name, string dateOfBirth, int sex, string residentAddress, string municipalityCode)
    {
        using var response = await http.PostAsJsonAsync(new Uri(address, "api/v1/residents"), new { name, dateOfBirth, sex, address = residentAddress, municipalityCode });
        Assert.True((int)response.StatusCode == 201, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("residentCode").GetString()!;
    }

    /// <summary>The data rows of a list: code, status, municipality, born, sex, name.</summary>
    private static List<string[]> Rows(string stdout) =>
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(p => (string[])[.. p[..5], string.Join(' ', p[5..])])
            .ToList();

    // The verb reads JPKI_HOME/jukinet-sim.db by default: the simulator's file is there.
    private ProcessResult Residents(params string[] arguments) => RunSimulator(["residents", .. arguments]);

    private ProcessResult RunSimulator(params string[] arguments) =>
        ExternalProcess.RunWith("dotnet", [TestInstall.BuiltToolPath("jukinet", "Jpki.JukiNet.Simulator"), .. arguments], new Dictionary<string, string> { ["JPKI_HOME"] = directory.FullName });
}
