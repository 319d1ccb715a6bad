using System.CommandLine;
using Jpki.Cli;
using Jpki.Verifier;
using Jpki.Verifier.Store;

/// <summary>
/// <c>jpki verify challenge</c> (a service issues a login challenge) and <c>jpki verify auth</c>
/// (it checks the card's answer): the command-line face of <see cref="LoginChallengeIssuer"/> and
/// <see cref="LoginVerifier"/> with the shared SQL nonce ledger.
/// </summary>
internal static class LoginCommands
{
    public static Command Challenge()
    {
        var audience = new Option<string>("--audience") { Description = "who the challenge is for: this service (e.g. its login URL)", HelpName = "AUDIENCE", Required = true };
        var keyFile = new Option<string>("--key-file") { Description = "the service's HMAC-SHA256 key, at least 32 bytes (e.g. head -c 32 /dev/urandom > login-mac.key)", HelpName = "F", Required = true };
        var lifetime = new Option<int>("--lifetime") { Description = "seconds the resident has to answer (1-3600)", HelpName = "SECONDS", DefaultValueFactory = _ => 120 };
        var output = new Option<string>("--out") { Description = "where to write the challenge (JSON)", HelpName = "FILE", Required = true };
        var command = new Command("challenge", "Issue a login challenge {audience, nonce, expiry, MAC} for a resident's card to sign with the user-authentication key.")
        {
            audience, keyFile, lifetime, output,
        };
        command.SetAction(parse =>
        {
            var seconds = parse.GetValue(lifetime);
            if (seconds is < 1 or > 3600)
            {
                return CliApp.UsageErrorOf(parse, $"verify challenge: --lifetime must be 1-3600 seconds, not {seconds}");
            }

            try
            {
                var issuer = new LoginChallengeIssuer(File.ReadAllBytes(parse.GetValue(keyFile)!), parse.GetValue(audience)!);
                var challenge = issuer.Issue(TimeSpan.FromSeconds(seconds));
                File.WriteAllText(parse.GetValue(output)!, challenge.ToJson());
                Console.Error.WriteLine($"wrote {parse.GetValue(output)} (login challenge for '{challenge.Audience}', expires {challenge.ExpiresAt:O})");
                return 0;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                Console.Error.WriteLine("verify challenge: " + e.Message);
                return ExitCodes.Input;
            }
        });
        return command
            .WithExamples("./jpki verify challenge --audience https://e-filing.example/login --key-file login-mac.key --out challenge.json")
            .WithExitCodes((0, "challenge written"), (ExitCodes.Input, "unreadable key file or a key under 32 bytes, audience not one line, output not writable"));
    }

    public static Command Auth()
    {
        var challengeFile = new Option<string>("--challenge") { Description = "the challenge the service issued (JSON, from verify challenge)", HelpName = "FILE", Required = true };
        var signatureFile = new Option<string>("--sig") { Description = "the card's signature over the challenge (from card auth)", HelpName = "FILE", Required = true };
        var certificateFile = new Option<string>("--cert") { Description = "the card's user-authentication certificate (PEM or DER)", HelpName = "FILE", Required = true };
        var audience = new Option<string>("--audience") { Description = "this service's audience: a challenge for any other is refused", HelpName = "AUDIENCE", Required = true };
        var keyFile = new Option<string>("--key-file") { Description = "this service's HMAC-SHA256 key (the challenges' MAC key)", HelpName = "F", Required = true };
        var store = new Option<string>("--store") { Description = "the used-challenge ledger every instance shares: a SQLite file, Data Source=FILE, or a PostgreSQL connection string (default $JPKI_HOME/verifier-logins.db)", HelpName = "CONN" };
        var ocsp = new Option<string>("--ocsp") { Description = "ask this OCSP responder", HelpName = "URL" };
        var tokenFile = new Option<string>("--token-file") { Description = "the verifier's API token (default: $JPKI_HOME/secrets/verifier.token if it exists)", HelpName = "F" };
        var crls = new Option<string[]>("--crl") { Description = "a CRL (DER or PEM) of the authentication issuer, and its delta; repeatable", HelpName = "FILE" };
        var roots = new Option<string>("--roots") { Description = "trusted roots (default: $JPKI_HOME/certs)", HelpName = "DIR" };
        var json = new Option<bool>("--json") { Description = "print the result as one JSON object instead of text (same exit codes)" };
        var command = new Command("auth", "Check a login: the challenge is this service's, for it and not expired, the card's signature over it, the user-authentication certificate's chain, profile and status, and that the challenge is answered only once.")
        {
            challengeFile, signatureFile, certificateFile, audience, keyFile, store, ocsp, tokenFile, crls, roots, json,
        };
        var arguments = new AuthArguments(challengeFile, signatureFile, certificateFile, audience, keyFile, store, ocsp, tokenFile, crls, roots, json);
        command.SetAction((parse, cancellationToken) => AuthAsync(parse, arguments, cancellationToken));
        FailureReason[] reasons =
        [
            FailureReason.BadSignature, FailureReason.UntrustedChain, FailureReason.WrongIssuer, FailureReason.Expired, FailureReason.NotYetValid,
            FailureReason.WrongKeyUsage, FailureReason.UnrecognizedCriticalExtension, FailureReason.PolicyNotAccepted,
            FailureReason.Revoked, FailureReason.RevocationUnknown, FailureReason.RevocationUnavailable,
            FailureReason.ChallengeMacInvalid, FailureReason.WrongAudience, FailureReason.ChallengeExpired, FailureReason.ChallengeReplayed,
        ];
        return command
            .WithExamples(
                "./jpki verify auth --challenge challenge.json --sig challenge.sig --cert auth.pem --audience https://e-filing.example/login --key-file login-mac.key --ocsp http://127.0.0.1:8082/ocsp",
                "./jpki verify auth --challenge c.json --sig c.sig --cert auth.pem --audience https://e-filing.example/login --key-file login-mac.key --store 'Host=db;Database=logins;Username=svc' --crl auth-full.crl --json")
            .WithExitCodes(
            [
                (0, "login accepted: the certificate is valid and good, the challenge answered for the first time"),
                (1, "another failure"),
                (ExitCodes.Input, "unreadable input (challenge, signature, certificate, key, roots) or an unusable store"),
                .. reasons.Select(r => (ExitCodes.For(r), VerifyCommand.Describe(r))),
            ]);
    }

    /// <summary>The options of <c>verify auth</c>, for its action.</summary>
    private sealed record AuthArguments(
        Option<string> ChallengeFile,
        Option<string> SignatureFile,
        Option<string> CertificateFile,
        Option<string> Audience,
        Option<string> KeyFile,
        Option<string> Store,
        Option<string> Ocsp,
        Option<string> TokenFile,
        Option<string[]> Crls,
        Option<string> Roots,
        Option<bool> Json);

    /// <summary>What <c>verify auth</c> reads from files.</summary>
    private sealed record AuthInputs(LoginChallenge Challenge, byte[] Signature, byte[] Certificate, byte[] MacKey, VerifierOptions Options);

    private static async Task<int> AuthAsync(ParseResult parse, AuthArguments arguments, CancellationToken cancellationToken)
    {
        var home = Environment.GetEnvironmentVariable("JPKI_HOME") is { Length: > 0 } h ? h : Path.Combine(Environment.CurrentDirectory, "var");
        var ocspText = parse.GetValue(arguments.Ocsp);
        Uri? ocspUrl = null;
        if (ocspText is not null && !(Uri.TryCreate(ocspText, UriKind.Absolute, out ocspUrl) && ocspUrl.Scheme is "http" or "https"))
        {
            return CliApp.UsageErrorOf(parse, $"verify auth: --ocsp '{ocspText}' is not an http(s) URL");
        }

        var crlFiles = parse.GetValue(arguments.Crls) ?? [];
        if (ocspUrl is not null && crlFiles.Length > 0)
        {
            return CliApp.UsageErrorOf(parse, "verify auth: give --ocsp or --crl, not both");
        }

        var storeText = parse.GetValue(arguments.Store) ?? Path.Combine(home, "verifier-logins.db");
        var connectionString = storeText.Contains('=', StringComparison.Ordinal) ? storeText : "Data Source=" + storeText;
        var inputs = await ReadAuthInputsAsync(parse, arguments, home, ocspUrl, crlFiles, cancellationToken);
        if (inputs is null)
        {
            return ExitCodes.Input;
        }

        VerificationResult result;
        try
        {
            using var ledger = new SqlUsedChallenges(connectionString);
            result = await LoginVerifier.VerifyAsync(inputs.Challenge, inputs.Signature, inputs.Certificate, inputs.Options, new LoginOptions
            {
                Audience = parse.GetValue(arguments.Audience)!,
                MacKey = inputs.MacKey,
                UsedChallenges = ledger,
            }, cancellationToken);
        }
        catch (Exception e) when (e is System.Data.Common.DbException or ArgumentException)
        {
            Console.Error.WriteLine("verify auth: the used-challenge store cannot be used: " + e.Message);
            return ExitCodes.Input;
        }

        return Report(result, inputs.Challenge, parse.GetValue(arguments.Json));
    }

    /// <summary>The result printed (as JSON or text), and its exit code.</summary>
    private static int Report(VerificationResult result, LoginChallenge challenge, bool json)
    {
        var login = new { audience = challenge.Audience, nonce = challenge.Nonce, issuedAt = challenge.IssuedAt, expiresAt = challenge.ExpiresAt };
        if (json)
        {
            VerifyCommand.PrintJson(result, null, login);
        }
        else
        {
            VerifyCommand.Print(result, null, login: true);
        }

        if (result.IsValid)
        {
            return 0;
        }

        var reason = result.FirstFailure?.Reason ?? FailureReason.BadSignature;
        Console.Error.WriteLine($"verify auth: {VerifyCommand.Describe(reason)}: {result.FirstFailure?.Detail}");
        return ExitCodes.For(reason);
    }

    /// <summary>The login's inputs, or null after saying on standard error what could not be read.</summary>
    private static async Task<AuthInputs?> ReadAuthInputsAsync(ParseResult parse, AuthArguments arguments, string home, Uri? ocspUrl, string[] crlFiles, CancellationToken cancellationToken)
    {
        try
        {
            var challenge = LoginChallenge.Parse(await File.ReadAllTextAsync(parse.GetValue(arguments.ChallengeFile)!, cancellationToken));
            var signature = await File.ReadAllBytesAsync(parse.GetValue(arguments.SignatureFile)!, cancellationToken);
            var certificate = await File.ReadAllBytesAsync(parse.GetValue(arguments.CertificateFile)!, cancellationToken);
            var macKey = await File.ReadAllBytesAsync(parse.GetValue(arguments.KeyFile)!, cancellationToken);
            var rootsDirectory = parse.GetValue(arguments.Roots) ?? Path.Combine(home, "certs");
            var anchors = TrustAnchors.FromDirectory(rootsDirectory);
            if (anchors.Length == 0)
            {
                Console.Error.WriteLine($"verify auth: no self-signed CA certificate in '{rootsDirectory}'");
                return null;
            }

            var token = parse.GetValue(arguments.TokenFile) ?? (File.Exists(Path.Combine(home, "secrets", "verifier.token")) ? Path.Combine(home, "secrets", "verifier.token") : null);
            RevocationSource revocation = ocspUrl is not null
                ? new RevocationSource.Ocsp(ocspUrl, token is null ? null : (await File.ReadAllTextAsync(token, cancellationToken)).Trim())
                : crlFiles.Length > 0 ? RevocationSource.Crls.FromFiles(crlFiles) : new RevocationSource.None();
            return new AuthInputs(challenge, signature, certificate, macKey, new VerifierOptions { Roots = anchors, Revocation = revocation });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LoginChallengeFormatException)
        {
            Console.Error.WriteLine("verify auth: " + e.Message);
            return null;
        }
    }
}
