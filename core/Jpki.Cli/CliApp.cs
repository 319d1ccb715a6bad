using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Runtime.CompilerServices;

namespace Jpki.Cli;

/// <summary>
/// The conventions of every JPKI command line, on System.CommandLine: <c>-h</c>/<c>--help</c> on
/// every verb prints its help, its examples and its exit codes on standard output and exits 0; a
/// usage error (unknown verb or option, missing or malformed value) prints the error and the
/// verb's usage on standard error and exits <see cref="UsageError"/>. What a verb's action
/// returns is its exit code.
/// </summary>
public static class CliApp
{
    /// <summary>Exit code of every usage error, in every program.</summary>
    public const int UsageError = 2;

    private static readonly ConditionalWeakTable<Command, CommandDocs> Docs = [];

    // Arguments are taken as typed: no @response-file expansion.
    private static readonly ParserConfiguration Literal = new() { ResponseFileTokenReplacer = null };

    /// <summary>
    /// A root command named <paramref name="name"/> (e.g. <c>jpki</c>, as the operator types it
    /// through the script) with the help option, which applies to every subcommand.
    /// </summary>
    public static Command Root(string name, string description)
    {
        var root = new Command(name, description);
        var help = new HelpOption();
        help.Action = new HelpWithExamples((SynchronousCommandLineAction)help.Action!);
        root.Options.Add(help);
        return root;
    }

    /// <summary>Adds examples to the help of <paramref name="command"/> (one command line each, as typed).</summary>
    public static TCommand WithExamples<TCommand>(this TCommand command, params string[] examples)
        where TCommand : Command
    {
        Docs.GetOrCreateValue(command).Examples.AddRange(examples);
        return command;
    }

    /// <summary>Documents the exit codes of <paramref name="command"/> in its help (the usage error is added by itself).</summary>
    public static TCommand WithExitCodes<TCommand>(this TCommand command, params (int Code, string Meaning)[] codes)
        where TCommand : Command
    {
        Docs.GetOrCreateValue(command).ExitCodes.AddRange(codes);
        return command;
    }

    /// <summary>The examples of <paramref name="command"/>: its own, or else the first of each subcommand's.</summary>
    public static IReadOnlyList<string> ExamplesOf(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (Docs.TryGetValue(command, out var docs) && docs.Examples.Count > 0)
        {
            return docs.Examples;
        }

        return command.Subcommands.Where(c => !c.Hidden).SelectMany(c => ExamplesOf(c).Take(1)).ToList();
    }

    /// <summary>
    /// Parses and runs <paramref name="args"/>; the exit code. An exception no action handled
    /// becomes one line and <see cref="CrashReport.ExitCode"/>, never a stack trace (<see cref="CrashReport"/>).
    /// </summary>
    public static int Run(Command root, IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(root);
        try
        {
            var parse = root.Parse(args, Literal);
            return parse.Action is ParseErrorAction
                ? ReportUsageError(parse)
                : parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            return CrashReport.Write(e, Console.Error);
        }
    }

    /// <summary>
    /// As <see cref="Run"/>, for actions that are asynchronous. System.CommandLine's own handling
    /// of SIGINT/SIGTERM is off: services started through here stop as their host decides.
    /// </summary>
    public static async Task<int> RunAsync(Command root, IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(root);
        try
        {
            var parse = root.Parse(args, Literal);
            return parse.Action is ParseErrorAction
                ? ReportUsageError(parse)
                : await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
        }
        catch (Exception e)
        {
            return CrashReport.Write(e, Console.Error);
        }
    }

    /// <summary>
    /// A usage error found by an action after parsing (a value of the right type but out of range,
    /// a combination of options that does not go together): the message and the verb's usage on
    /// standard error, and <see cref="UsageError"/> to return.
    /// </summary>
    public static int UsageErrorOf(ParseResult parse, string message)
    {
        ArgumentNullException.ThrowIfNull(parse);
        Console.Error.WriteLine($"error: {message}");
        Console.Error.WriteLine();
        WriteHelp(parse.CommandResult.Command, Console.Error);
        return UsageError;
    }

    /// <summary>The help of <paramref name="command"/> (description, usage, options, examples, exit codes).</summary>
    public static void WriteHelp(Command command, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(command);
        var root = command;
        var path = new List<string>();
        for (Command? c = command; c is not null; c = c.Parents.OfType<Command>().FirstOrDefault())
        {
            root = c;
            path.Insert(0, c.Name);
        }

        var help = root.Parse([.. path.Skip(1), "--help"], Literal);
        help.Invoke(new InvocationConfiguration { Output = output, Error = output });
    }

    /// <summary>
    /// The errors, then the verb's help, on standard error (standard output stays for results).
    /// A token that matched nothing is named as "unexpected argument 'X'", in every program alike.
    /// </summary>
    private static int ReportUsageError(ParseResult parse)
    {
        var unmatched = parse.UnmatchedTokens;
        foreach (var token in unmatched)
        {
            Console.Error.WriteLine($"error: unexpected argument '{token}'");
        }

        foreach (var error in parse.Errors.Where(e => !unmatched.Any(t => e.Message.Contains($"'{t}'", StringComparison.Ordinal))))
        {
            Console.Error.WriteLine($"error: {error.Message}");
        }

        Console.Error.WriteLine();
        WriteHelp(parse.CommandResult.Command, Console.Error);
        return UsageError;
    }

    private static void WriteDocs(Command command, TextWriter output)
    {
        var examples = ExamplesOf(command);
        if (examples.Count > 0)
        {
            output.WriteLine("Examples:");
            foreach (var example in examples)
            {
                output.WriteLine($"  {example}");
            }

            output.WriteLine();
        }

        if (command.Subcommands.Count > 0 && command.Action is null)
        {
            // A group: its verbs document their own exit codes.
            output.WriteLine("Exit codes:");
            output.WriteLine($"  each verb's own (see its --help); {UsageError} usage error (the usage on standard error)");
            output.WriteLine();
            return;
        }

        output.WriteLine("Exit codes:");
        var codes = Docs.TryGetValue(command, out var docs) && docs.ExitCodes.Count > 0
            ? docs.ExitCodes
            : [(0, "success"), (1, "failed (the reason on standard error)")];
        foreach (var (code, meaning) in codes.Append((UsageError, "usage error (the usage on standard error)")).DistinctBy(c => c.Item1).OrderBy(c => c.Item1))
        {
            output.WriteLine($"  {code,-3} {meaning}");
        }

        output.WriteLine();
    }

    private sealed class CommandDocs
    {
        public List<string> Examples { get; } = [];

        public List<(int Code, string Meaning)> ExitCodes { get; } = [];
    }

    /// <summary>System.CommandLine's help, then the verb's examples and exit codes.</summary>
    private sealed class HelpWithExamples(SynchronousCommandLineAction inner) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            inner.Invoke(parseResult);
            WriteDocs(parseResult.CommandResult.Command, parseResult.InvocationConfiguration.Output);
            return 0;
        }
    }
}
