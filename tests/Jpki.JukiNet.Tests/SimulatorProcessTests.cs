using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Jpki.JukiNet.Simulator;

namespace Jpki.JukiNet.Tests;

/// <summary>The built simulator as `./jpki up` runs it: a child process, its address read from its output.</summary>
public sealed partial class SimulatorProcessTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private readonly DirectoryInfo directory = Directory.CreateTempSubdirectory("jukinet-sim-process-");
    private readonly HttpClient http = new();

    public void Dispose()
    {
        http.Dispose();
        directory.Delete(recursive: true);
    }

    private static string SimulatorDll => Path.Combine(AppContext.BaseDirectory, "Jpki.JukiNet.Simulator.dll");

    [Fact]
    public async Task The_file_keeps_its_population_and_changes_across_restarts_whatever_the_flags()
    {
        var database = Path.Combine(directory.FullName, "sim.db");
        var first = new PopulationGenerator(4).Generate(20)[0];
        long sequence;
        using (var simulator = await StartAsync("--db", database, "--urls", "http://127.0.0.1:0", "--residents", "20", "--seed", "4"))
        {
            var client = Client(simulator.BaseAddress);
            Assert.Equal(first.Name, Assert.IsType<ResidentFound>(await client.LookupAsync(first.ResidentCode)).Record.Name);
            Assert.Equal(20, await ResidentCountAsync(simulator.BaseAddress));
            using var created = await http.PostAsJsonAsync(
                new Uri(simulator.BaseAddress, "api/v1/changes"),
                new { residentCode = first.ResidentCode.Digits, type = "death", effectiveDate = "2026-11-01" });
            using var body = JsonDocument.Parse(await created.Content.ReadAsStringAsync());
            sequence = body.RootElement.GetProperty("sequence").GetInt64();
        }

        using (var simulator = await StartAsync("--db", database, "--urls", "http://127.0.0.1:0", "--residents", "50", "--seed", "5"))
        {
            Assert.Equal(20, await ResidentCountAsync(simulator.BaseAddress));
            var record = Assert.IsType<ResidentFound>(await Client(simulator.BaseAddress).LookupAsync(first.ResidentCode)).Record;
            Assert.Equal(ResidentStatus.Deceased, record.Status);
            Assert.Equal(sequence, record.Sequence);
            Assert.Equal(sequence, (await Client(simulator.BaseAddress).GetChangesAsync(0, 10)).Last);
        }
    }

    [Fact]
    public async Task The_generator_and_the_fault_switches_can_be_set_on_the_command_line()
    {
        using var simulator = await StartAsync(
            "--db", Path.Combine(directory.FullName, "generated.db"), "--urls", "http://127.0.0.1:0", "--residents", "30",
            "--changes-per-second", "100", "--changes-limit", "25", "--changes-seed", "3",
            "--fault-seed", "4", "--fault-reorder", "1", "--fault-slow-ms", "10");
        using (var state = JsonDocument.Parse(await http.GetStringAsync(new Uri(simulator.BaseAddress, "api/v1/faults"))))
        {
            var faults = state.RootElement.GetProperty("faults");
            Assert.Equal(4, faults.GetProperty("seed").GetInt32());
            Assert.Equal(1, faults.GetProperty("reorder").GetDouble());
            Assert.Equal(10, faults.GetProperty("slowMs").GetInt32());
        }

        var clock = Stopwatch.StartNew();
        string? generatorState;
        do
        {
            await Task.Delay(100);
            using var status = JsonDocument.Parse(await http.GetStringAsync(new Uri(simulator.BaseAddress, "api/v1/generator")));
            generatorState = status.RootElement.GetProperty("state").GetString();
        }
        while (generatorState == "running" && clock.Elapsed < Deadline);

        Assert.Equal("done", generatorState);
        var page = await Client(simulator.BaseAddress).GetChangesAsync(0, 100);
        Assert.Equal(25, page.Last);
        Assert.Equal(Enumerable.Range(1, 25).Select(i => (long)i), page.Changes.Select(e => e.Sequence).Order());
        Assert.NotEqual(page.Changes.Select(e => e.Sequence).Order(), page.Changes.Select(e => e.Sequence));
    }

    [Fact]
    public async Task A_bad_argument_exits_2_with_the_usage()
    {
        using var process = Process.Start(new ProcessStartInfo("dotnet", [SimulatorDll, "--port", "1"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        var error = await process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Deadline);
        await process.WaitForExitAsync(timeout.Token);
        Assert.Equal(2, process.ExitCode);
        Assert.Contains("unknown argument --port", error, StringComparison.Ordinal);
        Assert.Contains("--residents N", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_line_on_standard_output_is_json_with_a_timestamp_and_each_request_has_one_outcome_line_with_its_trace_id()
    {
        using var simulator = await StartAsync("--db", Path.Combine(directory.FullName, "logs.db"), "--urls", "http://127.0.0.1:0", "--residents", "10", "--seed", "1");
        var first = new PopulationGenerator(1).Generate(10)[0];
        Assert.IsType<ResidentFound>(await Client(simulator.BaseAddress).LookupAsync(first.ResidentCode));
        using (var missing = await http.GetAsync(new Uri(simulator.BaseAddress, "no/such/page")))
        {
            Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.StatusCode);
        }

        await ResidentCountAsync(simulator.BaseAddress);
        var until = DateTime.UtcNow + Deadline;
        while (simulator.Output.Count(l => l.Contains("\"Jpki.Requests\"", StringComparison.Ordinal)) < 3 && DateTime.UtcNow < until)
        {
            await Task.Delay(100);
        }

        var lines = simulator.Output.ToList();
        Assert.NotEmpty(lines);
        var requests = new List<JsonElement>();
        foreach (var line in lines)
        {
            using var json = JsonDocument.Parse(line);
            var timestamp = json.RootElement.GetProperty("Timestamp").GetString();
            Assert.True(DateTimeOffset.TryParse(timestamp, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out _), line);
            Assert.Matches("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$", timestamp);
            if (json.RootElement.GetProperty("Category").GetString() == "Jpki.Requests")
            {
                requests.Add(json.RootElement.Clone());
            }
        }

        Assert.Contains(lines, l => Jpki.Testing.ListeningLine.Urls(l, "Juki-Net simulator listening on ") is not null);
        Assert.True(requests.Count >= 3, string.Join('\n', lines));
        Assert.All(requests, r => Assert.Matches("^[0-9a-f]{32}$", r.GetProperty("TraceId").GetString()));
        Assert.Equal(requests.Count, requests.Select(r => r.GetProperty("TraceId").GetString()).Distinct().Count());
        Assert.Contains(requests, r => r.GetProperty("State").GetProperty("Status").GetString() == "404" && r.GetProperty("State").GetProperty("Route").GetString() == "(no route)");
        Assert.Contains(requests, r => r.GetProperty("State").GetProperty("Status").GetString() == "200" && r.GetProperty("State").GetProperty("Route").GetString() == "/healthz");
        // The route pattern, never the path: the resident code a lookup carries is not in any line.
        Assert.DoesNotContain(lines, l => l.Contains(first.ResidentCode.Digits, StringComparison.Ordinal));
    }

    private JukiNetClient Client(Uri baseAddress) => new(http, new JukiNetClientOptions { BaseAddress = baseAddress });

    private async Task<long> ResidentCountAsync(Uri baseAddress)
    {
        using var health = JsonDocument.Parse(await http.GetStringAsync(new Uri(baseAddress, "healthz")));
        return health.RootElement.GetProperty("residents").GetInt64();
    }

    private static async Task<RunningSimulator> StartAsync(params string[] args)
    {
        var process = Process.Start(new ProcessStartInfo("dotnet", [SimulatorDll, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var address = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.OutputDataReceived += (_, line) =>
        {
            if (line.Data is { } data)
            {
                output.Enqueue(data);
            }

            if (line.Data is { } text && ListeningLine().Match(text) is { Success: true } match)
            {
                address.TrySetResult(new Uri(match.Groups[1].Value + "/"));
            }
        };
        process.ErrorDataReceived += (_, _) => { };
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => address.TrySetException(new InvalidOperationException("the simulator exited during start-up"));
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            return new RunningSimulator(process, await address.Task.WaitAsync(Deadline), output);
        }
        catch
        {
            process.Kill();
            process.Dispose();
            throw;
        }
    }

    [GeneratedRegex(@"Juki-Net simulator listening on (http://127\.0\.0\.1:[1-9][0-9]*)")]
    private static partial Regex ListeningLine();

    private sealed class RunningSimulator(Process process, Uri baseAddress, System.Collections.Concurrent.ConcurrentQueue<string> output) : IDisposable
    {
        public Uri BaseAddress { get; } = baseAddress;

        /// <summary>Every line the process wrote on standard output so far.</summary>
        public IReadOnlyCollection<string> Output => output;

        public void Dispose()
        {
            process.Kill();
            process.WaitForExit(Deadline);
            process.Dispose();
        }
    }
}
