using System.Reflection;
using System.Text.RegularExpressions;

namespace Jpki.Cli;

/// <summary>
/// The last word of a program that met an exception nothing expected: one line on standard error
/// for the operator (no stack trace: it means nothing to them and may show internals), the full
/// exception appended to <c>$JPKI_HOME/logs/&lt;program&gt;-crash.log</c> for whoever fixes it,
/// and <see cref="ExitCode"/>. Passwords of connection strings are masked in both.
/// </summary>
public static partial class CrashReport
{
    /// <summary>Exit code of an unexpected failure in every program (sysexits' EX_SOFTWARE).</summary>
    public const int ExitCode = 70;

    /// <summary>Reports <paramref name="exception"/> as above; returns <see cref="ExitCode"/>.</summary>
    public static int Write(Exception exception, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(exception);
        ArgumentNullException.ThrowIfNull(error);
        var program = Assembly.GetEntryAssembly()?.GetName().Name ?? "jpki";
        var inner = exception is AggregateException { InnerExceptions.Count: 1 } aggregate ? aggregate.InnerExceptions[0] : exception;
        var where = WriteDetails(program, exception);
        error.WriteLine($"error: {program} failed unexpectedly: {inner.GetType().Name}: {Mask(FirstLine(inner.Message))} ({where})");
        return ExitCode;
    }

    /// <summary>Where the details went: the crash log of an existing home, else nowhere (a wrong home is never created).</summary>
    private static string WriteDetails(string program, Exception exception)
    {
        var home = Environment.GetEnvironmentVariable("JPKI_HOME") is { Length: > 0 } h ? h : "var";
        if (!Directory.Exists(home))
        {
            return "no details kept: JPKI_HOME does not exist";
        }

        try
        {
            var logs = Path.Combine(Path.GetFullPath(home), "logs");
            Directory.CreateDirectory(logs);
            var path = Path.Combine(logs, program + "-crash.log");
            File.AppendAllText(path, $"{DateTimeOffset.UtcNow:O} {program} {Mask(exception.ToString())}{Environment.NewLine}");
            return $"details in {path}";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "the details could not be written: " + e.Message;
        }
    }

    private static string FirstLine(string message)
    {
        var end = message.IndexOfAny(['\r', '\n']);
        return end < 0 ? message : message[..end];
    }

    /// <summary>Masks <c>Password=...</c> (Npgsql's keyword, any case, up to the next ';').</summary>
    internal static string Mask(string text) => PasswordSetting().Replace(text, "$1***");

    [GeneratedRegex("((?:password|pwd)\\s*=\\s*)[^;\\s\"']*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex PasswordSetting();
}
