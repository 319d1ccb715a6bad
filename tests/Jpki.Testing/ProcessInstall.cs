using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Ca.Accounts;
using Jpki.Core.Configuration;

namespace Jpki.Testing;

/// <summary>
/// An install of a test's own whose services run as real processes, for the fault tests (a full
/// disk, an HSM token moved away, PostgreSQL stopped or out of WAL space): a temporary root holding
/// the JPKI home, a SoftHSM token directory and its configuration, and a fresh token label; the
/// key ceremony run as a child process; jpki.json edited; the CA and the OCSP responder started
/// from their build output with the environment ./jpki gives them. <see cref="StopAsync"/> stops
/// what it started; <see cref="DeleteRoot"/> removes the files once the test has unmounted its volumes.
/// </summary>
public sealed class ProcessInstall(string prefix, string modulePath)
{
    private readonly List<ServiceProcess> started = [];

    public string Root { get; } = Directory.CreateTempSubdirectory(prefix).FullName;

    public string TokenLabel { get; } = "JPKI-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    public string Home => Path.Combine(Root, "home");

    public string TokenDirectory => Path.Combine(Root, "tokens");

    public string SoftHsmConfiguration => Path.Combine(Root, "softhsm2.conf");

    public string SettingsFile => Path.Combine(Home, JpkiSettings.FileName);

    /// <summary>What every program of this install runs with (./jpki sets the same).</summary>
    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>
    {
        ["JPKI_HOME"] = Home,
        ["SOFTHSM2_CONF"] = SoftHsmConfiguration,
        ["JPKI_HSM_TOKEN"] = TokenLabel,
        ["JPKI_PKCS11_MODULE"] = modulePath,
    };

    /// <summary>jpki.json written before the ceremony (a home made for PostgreSQL keeps the file it is given).</summary>
    public void WriteSettings(JsonObject settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Directory.CreateDirectory(Home);
        File.WriteAllText(SettingsFile, settings.ToJsonString());
    }

    /// <summary>The token directory, SoftHSM's configuration and the home (if not there yet), then <c>hsm init</c>.</summary>
    public void RunCeremony()
    {
        Directory.CreateDirectory(TokenDirectory);
        Directory.CreateDirectory(Home);
        File.WriteAllText(SoftHsmConfiguration, $"directories.tokendir = {TokenDirectory}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
        TestInstall.RunCeremony(Home, SoftHsmConfiguration, TokenLabel, modulePath);
    }

    /// <summary>Changes jpki.json as the ceremony (or <see cref="WriteSettings"/>) left it.</summary>
    public void EditSettings(Action<JsonNode> edit)
    {
        ArgumentNullException.ThrowIfNull(edit);
        var json = JsonNode.Parse(File.ReadAllText(SettingsFile))!;
        edit(json);
        File.WriteAllText(SettingsFile, json.ToJsonString());
    }

    /// <summary>A built-in account's API token, from the secrets the first start wrote.</summary>
    public string TokenOf(string account) => File.ReadAllText(BuiltInAccounts.TokenPath(Home, account)).Trim();

    /// <summary>A service's JSON resource (its <c>/healthz</c>, <c>/readyz</c>): the HTTP status and the body.</summary>
    public static async Task<(int Code, JsonElement Body)> GetJsonAsync(HttpClient http, Uri service, string path)
    {
        ArgumentNullException.ThrowIfNull(http);
        using var response = await http.GetAsync(new Uri(service, path));
        return ((int)response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    /// <summary>The hsm/audit tool on this install, with the PIN and store variables emptied (it reads the install's own).</summary>
    public ProcessResult RunTool(params string[] arguments) => ExternalProcess.RunWith(
        "dotnet",
        [TestInstall.BuiltToolPath("hsm-config", "Jpki.HsmTool"), .. arguments],
        new Dictionary<string, string>(Environment) { ["JPKI_HSM_PIN"] = "", ["JPKI_DB"] = "" });

    public Task<ServiceProcess> StartCaAsync() => StartAsync("ca", "Jpki.Ca", "CA API listening on ");

    public Task<ServiceProcess> StartOcspAsync() => StartAsync("ocsp", "Jpki.Ocsp", "OCSP responder listening on ");

    /// <summary>Stops every service it started (the test's DisposeAsync, before its volumes are unmounted).</summary>
    public async Task StopAsync()
    {
        foreach (var process in started)
        {
            await process.DisposeAsync();
        }

        started.Clear();
    }

    /// <summary>Removes the root, best effort (a volume a failed run left mounted keeps its files).</summary>
    public void DeleteRoot()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task<ServiceProcess> StartAsync(string folder, string project, string listeningPrefix)
    {
        var process = await ServiceProcess.StartAsync(TestInstall.BuiltToolPath(folder, project), Environment, listeningPrefix);
        started.Add(process);
        return process;
    }
}
