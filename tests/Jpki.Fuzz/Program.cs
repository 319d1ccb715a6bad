using System.Diagnostics;
using Jpki.Fuzz;

// The fuzz harnesses (docs/fuzzing.md). ./jpki fuzz drives them; by hand:
//   dotnet Jpki.Fuzz.dll list                      the targets
//   dotnet Jpki.Fuzz.dll run TARGET                under afl-fuzz (SharpFuzz's out-of-process runner)
//   dotnet Jpki.Fuzz.dll replay TARGET PATH...     files or folders through the harness in process
//   dotnet Jpki.Fuzz.dll seeds PROJECT_DIR         makes fixtures/ and corpus/ anew (once; committed)
// Exit codes: 0 success, 1 an input made an unexpected exception (replay), 2 usage error.
const string Usage = "usage: Jpki.Fuzz list | run TARGET | replay TARGET PATH... | seeds PROJECT_DIR";
if (args.Length == 0)
{
    Console.Error.WriteLine(Usage);
    return 2;
}

switch (args[0])
{
    case "list":
        foreach (var target in FuzzTargets.All)
        {
            Console.WriteLine($"{target.Name,-20} {target.Parser}; refuses with {target.Rejection}");
        }

        return 0;
    case "run" when args.Length == 2 && FuzzTargets.Find(args[1]) is { } target:
        // AFL++ starts this process once; SharpFuzz runs the inputs in a child it restarts after a
        // crash, and reports each input's outcome and the instrumented branches over AFL's pipes.
        SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
        {
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            target.Run(copy.ToArray());
        });
        return 0;
    case "replay" when args.Length >= 3 && FuzzTargets.Find(args[1]) is { } target:
        var failures = 0;
        var files = args[2..].SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories) : [p])
            .Where(f => !Path.GetFileName(f).StartsWith('.') && Path.GetFileName(f) != "README.md")
            .Order(StringComparer.Ordinal)
            .ToList();
        foreach (var file in files)
        {
            var watch = Stopwatch.StartNew();
            var outcome = Replay.One(target, File.ReadAllBytes(file));
            Console.WriteLine($"{(outcome is null ? "ok  " : "FAIL")} {watch.ElapsedMilliseconds,6} ms  {file}{(outcome is null ? "" : "\n" + outcome)}");
            failures += outcome is null ? 0 : 1;
        }

        Console.WriteLine($"{target.Name}: {files.Count} inputs, {failures} unexpected exceptions");
        return failures == 0 ? 0 : 1;
    case "seeds" when args.Length == 2:
        SeedGenerator.Write(args[1]);
        return 0;
    default:
        Console.Error.WriteLine(Usage);
        return 2;
}
