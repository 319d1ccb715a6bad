using System.Globalization;
using Jpki.Card;
using Jpki.Hosting;
using Jpki.Hsm;

// jpki card new [--expires YYYY-MM-DD] | list | sign --card LABEL --in FILE --out FILE [--pin-file FILE]
// PINs come from a file or the terminal (no echo), never from the command line.
// Owner-only files from here on (umask 077): the cards' SoftHSM tokens and PIN counters live in var/cards.
UnixFiles.RestrictNewFilesToOwner();
return CardCommand.Run(args);

internal static class CardCommand
{
    private const string Usage = """
        usage: jpki card new [--expires YYYY-MM-DD]
               jpki card list
               jpki card sign --card LABEL --in FILE --out FILE [--pin-file FILE]
        --expires sets the card's expiry (JST date, after today); without it the card gets one when
        it is personalised for a resident (10th birthday after issuance, 5th under 18).
        The signing PIN is read from --pin-file (first line) or typed at the terminal (not echoed).
        """;

    public static int Run(string[] args)
    {
        var arguments = args.Length > 0 && args[0] == "card" ? args[1..] : args;
        if (arguments.Length == 0 || arguments[0] is "-h" or "--help" or "help")
        {
            Console.Error.WriteLine(Usage);
            return arguments.Length == 0 ? 2 : 0;
        }

        var home = Environment.GetEnvironmentVariable("JPKI_HOME") is { Length: > 0 } h ? h : Path.Combine(Environment.CurrentDirectory, "var");
        var store = CardStore.ForHome(home);
        var modulePath = Environment.GetEnvironmentVariable("JPKI_PKCS11_MODULE") is { Length: > 0 } m ? m : "/usr/lib/softhsm/libsofthsm2.so";
        try
        {
            using var module = Pkcs11Module.Load(modulePath, store.EnsureSoftHsmConfiguration());
            var reader = new CardReader(module, store, TimeProvider.System);
            return arguments[0] switch
            {
                "new" => New(reader, Options(arguments[1..])),
                "list" => List(reader),
                "sign" => Sign(reader, Options(arguments[1..])),
                _ => Fail($"unknown card command '{arguments[0]}'\n{Usage}", 2),
            };
        }
        catch (ArgumentException e)
        {
            return Fail(e.Message + "\n" + Usage, 2);
        }
        catch (Exception e) when (e is CardException or HsmException or IOException)
        {
            return Fail(e.Message, 1);
        }
    }

    private static int New(CardReader reader, Dictionary<string, string> options)
    {
        DateOnly? expires = null;
        if (options.Keys.FirstOrDefault(k => k != "--expires") is { } unexpected)
        {
            throw new ArgumentException($"unexpected argument '{unexpected}'");
        }

        if (options.TryGetValue("--expires", out var text))
        {
            if (!DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
            {
                throw new ArgumentException($"--expires must be a date YYYY-MM-DD, not '{text}'");
            }

            expires = date;
        }

        try
        {
            Console.WriteLine(reader.CreateBlank(expires));
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new ArgumentException($"--expires: a card's expiry must be after today (JST), not {expires:yyyy-MM-dd}", e);
        }

        return 0;
    }

    private static int List(CardReader reader)
    {
        Console.WriteLine($"{"card",-14} {"state",-22} {"expires",-10} certificates");
        foreach (var card in reader.List())
        {
            var certificates = card.Certificates.Count == 0
                ? "-"
                : string.Join(", ", card.Certificates.Select(c =>
                    $"{c.Application.ToString().ToLowerInvariant()} {c.Serial} until {c.NotAfter.ToOffset(TimeSpan.FromHours(9)).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} JST"));
            var expires = card.Expires?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ?? "-";
            Console.WriteLine($"{card.Label,-14} {card.State,-22} {expires,-10} {certificates}");
        }

        return 0;
    }

    private static int Sign(CardReader reader, Dictionary<string, string> options)
    {
        var label = Required(options, "--card");
        var input = new FileInfo(Required(options, "--in"));
        var output = Required(options, "--out");
        if (!input.Exists)
        {
            return Fail($"input file '{input.FullName}' does not exist", 1);
        }

        var pin = options.TryGetValue("--pin-file", out var pinFile) ? ReadPinFile(pinFile) : ReadPinFromTerminal("signing PIN: ");
        var signature = reader.SignDetached(label, pin, input);
        File.WriteAllBytes(output, signature);
        Console.Error.WriteLine($"wrote {output} (CMS detached signature, DER)");
        return 0;
    }

    private static string ReadPinFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new IOException($"PIN file '{path}' does not exist");
        }

        using var reader = new StreamReader(path);
        return reader.ReadLine()?.Trim() ?? "";
    }

    /// <summary>Reads a PIN without echo from the terminal, or a line from stdin when it is not a terminal.</summary>
    private static string ReadPinFromTerminal(string prompt)
    {
        if (Console.IsInputRedirected)
        {
            return Console.In.ReadLine()?.Trim() ?? "";
        }

        Console.Error.Write(prompt);
        var pin = new System.Text.StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                break;
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                if (pin.Length > 0)
                {
                    pin.Length--;
                }

                continue;
            }

            pin.Append(key.KeyChar);
        }

        Console.Error.WriteLine();
        return pin.ToString();
    }

    private static Dictionary<string, string> Options(string[] arguments)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < arguments.Length; i++)
        {
            if (arguments[i] == "--pin")
            {
                throw new ArgumentException("a PIN is never given on the command line: use --pin-file or type it when asked");
            }

            if (!arguments[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= arguments.Length)
            {
                throw new ArgumentException($"unexpected argument '{arguments[i]}'");
            }

            options[arguments[i]] = arguments[++i];
        }

        return options;
    }

    private static string Required(Dictionary<string, string> options, string name) =>
        options.TryGetValue(name, out var value) ? value : throw new ArgumentException($"{name} is required");

    private static int Fail(string message, int code)
    {
        Console.Error.WriteLine("card: " + message);
        return code;
    }
}
