using System.Text.Json;
using Jpki.Benchmarks;

// ./jpki bench [name] [--out DIR] [--seconds S] [--rounds N] [--entries N (crl, default 1,000,000)]
//   [--requests N (issuance, default 800; their card keys are kept in DIR/issuance-csrs.txt)]
// Each benchmark needs its own SoftHSM configuration, and a process loads the module once:
// ./jpki runs one process per benchmark.
// Writes DIR/<name>.json (a list of figures, DESIGN.md §9) and prints a table.
var names = new List<string>();
var outDir = Path.Combine(Environment.GetEnvironmentVariable("JPKI_HOME") ?? "var", "bench");
var seconds = 2.0;
var rounds = 5;
var crlEntries = 1_000_000;
var issuanceRequests = 800;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--out": outDir = args[++i]; break;
        case "--seconds": seconds = double.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        case "--rounds": rounds = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        case "--requests": issuanceRequests = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        case "--entries": crlEntries = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        default: names.Add(args[i]); break;
    }
}

var known = new[] { "signer", "issuance", "crl", "ocsp", "jukinet" };
if (names.Count == 0)
{
    names.AddRange(known);
}

Directory.CreateDirectory(outDir);
var modulePath = Environment.GetEnvironmentVariable("JPKI_PKCS11_MODULE") is { Length: > 0 } m ? m : "/usr/lib/softhsm/libsofthsm2.so";
foreach (var name in names)
{
    IReadOnlyList<Figure> figures = name switch
    {
        "signer" => RunSigner(),
        "issuance" => await RunIssuanceAsync(),
        "crl" => RunCrl(),
        "ocsp" => await RunOcspAsync(),
        "jukinet" => RunJukiNet(),
        _ => throw new ArgumentException($"unknown benchmark '{name}'; known: {string.Join(", ", known)}"),
    };
    var path = Path.Combine(outDir, name + ".json");
    File.WriteAllText(path, JsonSerializer.Serialize(figures, new JsonSerializerOptions { WriteIndented = true }));
    Console.WriteLine($"{"figure",-34} {"value",12} {"unit",-14} {"baseline",-40} {"baseline value",14} {"ratio",7}");
    foreach (var f in figures)
    {
        Console.WriteLine($"{f.Name,-34} {f.Value,12:0.0} {f.Unit,-14} {f.Baseline,-40} {f.BaselineValue,14:0.0} {f.Ratio,7:0.000}");
    }

    Console.WriteLine($"written to {path}");
}

async Task<IReadOnlyList<Figure>> RunIssuanceAsync()
{
    var dir = Directory.CreateTempSubdirectory("jpki-bench-issuance-").FullName;
    try
    {
        return await new IssuanceBenchmark(dir, TimeSpan.FromSeconds(Math.Max(seconds, 5) * 2), issuanceRequests, Path.Combine(outDir, "issuance-csrs.txt")).RunAsync(modulePath);
    }
    finally
    {
        Directory.Delete(dir, recursive: true);
    }
}

IReadOnlyList<Figure> RunCrl()
{
    var dir = Directory.CreateTempSubdirectory("jpki-bench-crl-").FullName;
    try
    {
        return new CrlBenchmark(dir, crlEntries).Run(modulePath);
    }
    finally
    {
        Directory.Delete(dir, recursive: true);
    }
}

async Task<IReadOnlyList<Figure>> RunOcspAsync()
{
    var dir = Directory.CreateTempSubdirectory("jpki-bench-ocsp-").FullName;
    try
    {
        // 100,000 certificates in the store (10% revoked), wrk asking for random serials of all
        // of them, so every answer is signed in the warm-up first (RSA-2048 in SoftHSM: about
        // 50 s on 2 cores), wrk for 10 s per target, 50 revocations timed.
        return await new OcspBenchmark(dir, 100_000, 100_000, TimeSpan.FromSeconds(Math.Max(seconds, 5) * 2), 50).RunAsync(modulePath);
    }
    finally
    {
        Directory.Delete(dir, recursive: true);
    }
}

IReadOnlyList<Figure> RunJukiNet()
{
    // PostgreSQL too when a server is named (a fresh database is made there for each store).
    var postgres = Environment.GetEnvironmentVariable("JPKI_BENCH_PG") is { Length: > 0 } pg ? pg : Environment.GetEnvironmentVariable("JPKI_TEST_PG");
    var dir = Directory.CreateTempSubdirectory("jpki-bench-jukinet-").FullName;
    try
    {
        return new JukiNetBenchmark(dir, residents: int.Parse(Environment.GetEnvironmentVariable("JPKI_BENCH_RESIDENTS") ?? "50000"), events: int.Parse(Environment.GetEnvironmentVariable("JPKI_BENCH_EVENTS") ?? "100000"), pageSize: 500).Run(modulePath, postgres);
    }
    finally
    {
        Directory.Delete(dir, recursive: true);
    }
}

IReadOnlyList<Figure> RunSigner()
{
    var dir = Directory.CreateTempSubdirectory("jpki-bench-hsm-").FullName;
    try
    {
        return new SignerBenchmark(dir, TimeSpan.FromSeconds(seconds), rounds).Run(modulePath);
    }
    finally
    {
        Directory.Delete(dir, recursive: true);
    }
}
