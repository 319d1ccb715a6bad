using System.CommandLine;
using System.Globalization;
using Jpki.Card;
using Jpki.Cli;
using Jpki.Hosting;
using Jpki.Hsm;
using Jpki.Verifier;

// jpki card new [--expires YYYY-MM-DD] | list | sign --card LABEL --in FILE --out FILE [--pin-file FILE] | auth --card LABEL --challenge FILE --out FILE [--cert-out FILE]
// PINs come from a file or the terminal (no echo), never from the command line.
// Owner-only files from here on (umask 077): the cards' SoftHSM tokens and PIN counters live in var/cards.
UnixFiles.RestrictNewFilesToOwner();
return CardCommand.Run(args);

internal static class CardCommand
{
    private const int Failed = 1;

    public static int Run(string[] args) =>
        // `dotnet Jpki.Card.dll card list` (as ./jpki runs it) or `dotnet Jpki.Card.dll list`.
        CliApp.Run(Build(), args.Length > 0 && args[0] == "card" ? args : ["card", .. args]);

    private static Command Build()
    {
        var card = new Command("card", "Simulated resident IC cards (two SoftHSM tokens each, in $JPKI_HOME/cards). PINs come from a file or the terminal, never from the command line.");

        var expires = new Option<string>("--expires")
        {
            Description = "the card's expiry (JST date, after today); without it the card gets one when it is personalised (10th birthday after issuance, 5th under 18)",
            HelpName = "YYYY-MM-DD",
        };
        var create = new Command("new", "Make a blank card; prints its label.") { expires };
        create.SetAction(p => WithReader(p, reader => New(p, reader, p.GetValue(expires))));
        card.Subcommands.Add(create
            .WithExamples("./jpki card new", "./jpki card new --expires 2031-03-31")
            .WithExitCodes((0, "made; its label on standard output"), (Failed, "the card store or SoftHSM failed")));

        var list = new Command("list", "Every card: label, state, expiry, certificates.");
        list.SetAction(p => WithReader(p, List));
        card.Subcommands.Add(list.WithExamples("./jpki card list"));

        card.Subcommands.Add(SignCommand());
        card.Subcommands.Add(AuthCommand());

        var root = CliApp.Root("jpki", "JPKI simulated resident cards.");
        root.Subcommands.Add(card);
        return root;
    }

    private static Command SignCommand()
    {
        var label = new Option<string>("--card") { Description = "the card's label (from card list)", HelpName = "LABEL", Required = true };
        var input = new Option<string>("--in") { Description = "the document to sign", HelpName = "FILE", Required = true };
        var output = new Option<string>("--out") { Description = "where to write the CMS detached signature (DER)", HelpName = "FILE", Required = true };
        var pinFile = new Option<string>("--pin-file") { Description = "read the signing PIN from this file's first line (else it is typed at the terminal, not echoed)", HelpName = "FILE" };
        var pin = new Option<string>("--pin") { Hidden = true };
        var sign = new Command("sign", "Sign a document with the card's signing key (CMS detached signature).") { label, input, output, pinFile, pin };
        RefusePinArgument(sign, pin, "use --pin-file or type it when asked");
        sign.SetAction(p => WithReader(p, reader => Sign(reader, p.GetValue(label)!, p.GetValue(input)!, p.GetValue(output)!, p.GetValue(pinFile))));
        return sign
            .WithExamples("./jpki card sign --card CARD-0a1b2c3d --in doc.pdf --out doc.p7s --pin-file ~/signing.pin")
            .WithExitCodes((0, "signature written"), (Failed, "no such card, no signing certificate, wrong or locked PIN, unreadable input"));
    }

    private static Command AuthCommand()
    {
        var label = new Option<string>("--card") { Description = "the card's label (from card list)", HelpName = "LABEL", Required = true };
        var challenge = new Option<string>("--challenge") { Description = "the login challenge the service issued (JSON)", HelpName = "FILE", Required = true };
        var output = new Option<string>("--out") { Description = "where to write the signature over the challenge (sha256WithRSAEncryption, raw bytes)", HelpName = "FILE", Required = true };
        var certificateOutput = new Option<string>("--cert-out") { Description = "where to write the card's user-authentication certificate (PEM), sent to the service with the signature", HelpName = "FILE" };
        var pin = new Option<string>("--pin") { Hidden = true };
        var auth = new Command("auth", "Answer a service's login challenge with the card's user-authentication key (the PIN is typed at the terminal, or one line of standard input).")
        {
            label, challenge, output, certificateOutput, pin,
        };
        RefusePinArgument(auth, pin, "type it when asked, or give it on standard input");
        auth.SetAction(p => WithReader(p, reader => Authenticate(reader, p.GetValue(label)!, p.GetValue(challenge)!, p.GetValue(output)!, p.GetValue(certificateOutput))));
        return auth
            .WithExamples("./jpki card auth --card CARD-0a1b2c3d --challenge challenge.json --out challenge.sig --cert-out auth.pem")
            .WithExitCodes((0, "signature (and certificate) written"), (Failed, "no such card, no authentication certificate, wrong or locked PIN, unreadable or malformed challenge"));
    }

    /// <summary>--pin is declared (hidden) only to refuse it without echoing the PIN back as an unexpected argument.</summary>
    private static void RefusePinArgument(Command command, Option<string> pin, string instead) =>
        command.Validators.Add(result =>
        {
            if (result.GetResult(pin) is not null)
            {
                result.AddError($"a PIN is never given on the command line: {instead}");
            }
        });

    private static int WithReader(ParseResult parse, Func<CardReader, int> verb)
    {
        var home = Environment.GetEnvironmentVariable("JPKI_HOME") is { Length: > 0 } h ? h : Path.Combine(Environment.CurrentDirectory, "var");
        var store = CardStore.ForHome(home);
        var modulePath = Environment.GetEnvironmentVariable("JPKI_PKCS11_MODULE") is { Length: > 0 } m ? m : "/usr/lib/softhsm/libsofthsm2.so";
        try
        {
            using var module = Pkcs11Module.Load(modulePath, store.EnsureSoftHsmConfiguration());
            return verb(new CardReader(module, store, TimeProvider.System));
        }
        catch (ArgumentException e)
        {
            return CliApp.UsageErrorOf(parse, "card: " + e.Message);
        }
        catch (Exception e) when (e is CardException or HsmException or IOException)
        {
            return Fail(e.Message, Failed);
        }
    }

    private static int New(ParseResult parse, CardReader reader, string? text)
    {
        DateOnly? expires = null;
        if (text is not null)
        {
            if (!DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
            {
                return CliApp.UsageErrorOf(parse, $"card: --expires must be a date YYYY-MM-DD, not '{text}'");
            }

            expires = date;
        }

        try
        {
            Console.WriteLine(reader.CreateBlank(expires));
        }
        catch (ArgumentOutOfRangeException)
        {
            return CliApp.UsageErrorOf(parse, $"card: --expires: a card's expiry must be after today (JST), not {expires:yyyy-MM-dd}");
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

    private static int Sign(CardReader reader, string label, string inputPath, string output, string? pinFile)
    {
        var input = new FileInfo(inputPath);
        if (!input.Exists)
        {
            return Fail($"input file '{input.FullName}' does not exist", Failed);
        }

        var pin = pinFile is not null ? ReadPinFile(pinFile) : ReadPinFromTerminal("signing PIN: ");
        var signature = reader.SignDetached(label, pin, input);
        File.WriteAllBytes(output, signature);
        Console.Error.WriteLine($"wrote {output} (CMS detached signature, DER)");
        return 0;
    }

    private static int Authenticate(CardReader reader, string label, string challengePath, string output, string? certificateOutput)
    {
        LoginChallenge challenge;
        try
        {
            challenge = LoginChallenge.Parse(File.ReadAllText(challengePath));
        }
        catch (LoginChallengeFormatException e)
        {
            return Fail($"'{challengePath}': {e.Message}", Failed);
        }

        // Whom the resident logs in to, before the PIN is asked: a relayed challenge names another service.
        Console.Error.WriteLine($"login to '{challenge.Audience}', challenge valid until {challenge.ExpiresAt.ToOffset(TimeSpan.FromHours(9)).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} JST");
        var pin = ReadPinFromTerminal("user-authentication PIN: ");
        var (signature, certificate) = reader.SignWithAuthenticationKey(label, pin, challenge.ToBeSigned());
        File.WriteAllBytes(output, signature);
        if (certificateOutput is not null)
        {
            File.WriteAllText(certificateOutput, CardReader.Pem("CERTIFICATE", certificate));
        }

        Console.Error.WriteLine($"wrote {output} (signature over the challenge){(certificateOutput is null ? "" : $" and {certificateOutput} (user-authentication certificate)")}");
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

    private static int Fail(string message, int code)
    {
        Console.Error.WriteLine("card: " + message);
        return code;
    }
}
