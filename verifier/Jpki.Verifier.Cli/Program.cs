using System.Collections.Immutable;
using System.CommandLine;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using Jpki.Cli;
using Jpki.Verifier;

// jpki verify --in FILE --sig FILE.p7s [--ocsp URL [--token-file F]] | [--crl FILE ...] [--roots DIR] [--at TIME] [--require-nonce]
return await VerifyCommand.RunAsync(args);

internal static class VerifyCommand
{
    public static Task<int> RunAsync(string[] args) =>
        // `dotnet Jpki.Verifier.Cli.dll verify ...` (as ./jpki runs it) or without the verb.
        CliApp.RunAsync(Build(), args.Length > 0 && args[0] == "verify" ? args : ["verify", .. args]);

    private static Command Build()
    {
        var input = new Option<string>("--in") { Description = "the signed document (the content of the detached signature)", HelpName = "FILE", Required = true };
        var signature = new Option<string>("--sig") { Description = "the CMS (PKCS#7) detached signature, DER", HelpName = "FILE.p7s", Required = true };
        var ocsp = new Option<string>("--ocsp") { Description = "ask this OCSP responder (e.g. http://127.0.0.1:8082/ocsp)", HelpName = "URL" };
        var tokenFile = new Option<string>("--token-file") { Description = "the verifier's API token (default: $JPKI_HOME/secrets/verifier.token if it exists)", HelpName = "F" };
        var crls = new Option<string[]>("--crl") { Description = "a CRL (DER or PEM): the full CRL or the signer's municipality partition, and its delta; repeatable", HelpName = "FILE" };
        var roots = new Option<string>("--roots") { Description = "trusted roots, PEM files (default: $JPKI_HOME/certs; every self-signed CA there is a root)", HelpName = "DIR" };
        var at = new Option<string>("--at") { Description = "validate the certificate at this time (ISO 8601, e.g. 2026-11-23T10:00:00+09:00) instead of now", HelpName = "TIME" };
        var requireNonce = new Option<bool>("--require-nonce") { Description = "refuse an OCSP answer that does not echo the request's nonce" };
        var json = new Option<bool>("--json") { Description = "print the result as one JSON object instead of text (same exit codes)" };
        var verify = new Command("verify", "Check a resident's detached signature: the signature, the chain to a trusted root, the profile, and the certificate's status (OCSP or CRLs).")
        {
            input, signature, ocsp, tokenFile, crls, roots, at, requireNonce, json,
        };
        verify.SetAction(async (parse, _) =>
        {
            Parsed parsed;
            try
            {
                parsed = Parse(
                    parse.GetValue(input)!,
                    parse.GetValue(signature)!,
                    parse.GetValue(ocsp),
                    parse.GetValue(tokenFile),
                    parse.GetValue(crls) ?? [],
                    parse.GetValue(roots),
                    parse.GetValue(at),
                    parse.GetValue(requireNonce),
                    parse.GetValue(json));
            }
            catch (ArgumentException e)
            {
                return CliApp.UsageErrorOf(parse, "verify: " + e.Message);
            }

            return await VerifyAsync(parsed);
        });
        verify
            .WithExamples(
                "./jpki verify --in doc.pdf --sig doc.p7s --ocsp http://127.0.0.1:8082/ocsp",
                "./jpki verify --in doc.pdf --sig doc.p7s --crl var/crl/<issuerKeyId>/full.crl --at 2026-11-23T10:00:00+09:00 --json")
            .WithExitCodes(
            [
                (0, "good signature, good status"),
                (1, "another failure"),
                (ExitCodes.Input, "unreadable input (document, signature, token file, roots)"),
                .. Enum.GetValues<FailureReason>().Where(r => r != FailureReason.None).Select(r => (ExitCodes.For(r), Describe(r))).Where(c => c.Item1 != 1),
            ]);
        var root = CliApp.Root("jpki", "The JPKI verifier toolkit.");
        root.Subcommands.Add(verify);
        return root;
    }

    private static async Task<int> VerifyAsync(Parsed parsed)
    {
        VerifierOptions options;
        byte[] content, signature;
        try
        {
            content = File.ReadAllBytes(parsed.Input);
            signature = File.ReadAllBytes(parsed.Signature);
            var roots = TrustAnchors.FromDirectory(parsed.Roots);
            if (roots.Length == 0)
            {
                Console.Error.WriteLine($"verify: no self-signed CA certificate in '{parsed.Roots}'");
                return ExitCodes.Input;
            }

            RevocationSource revocation = parsed.Ocsp is not null
                ? new RevocationSource.Ocsp(parsed.Ocsp, parsed.TokenFile is null ? null : (await File.ReadAllTextAsync(parsed.TokenFile)).Trim())
                : parsed.Crls.Count > 0 ? RevocationSource.Crls.FromFiles(parsed.Crls) : new RevocationSource.None();
            options = new VerifierOptions { Roots = roots, Revocation = revocation, ValidationTime = parsed.At, RequireOcspNonce = parsed.RequireNonce };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine("verify: " + e.Message);
            return ExitCodes.Input;
        }

        var result = await SignatureVerifier.VerifyAsync(content, signature, options);
        if (parsed.Json)
        {
            PrintJson(result);
        }
        else
        {
            Print(result);
        }

        var failure = result.FirstFailure;
        if (failure is null && result.IsValid)
        {
            return 0;
        }

        var reason = failure?.Reason ?? FailureReason.MalformedSignature;
        Console.Error.WriteLine($"verify: {Describe(reason)}: {failure?.Detail}");
        return ExitCodes.For(reason);
    }

    private static void Print(VerificationResult result)
    {
        var output = Console.Out;
        if (result.Facts is { } facts)
        {
            output.WriteLine("signer (基本4情報):");
            output.WriteLine($"  name           {facts.Name}");
            output.WriteLine($"  date of birth  {facts.DateOfBirthText} ({facts.DateOfBirth})");
            output.WriteLine($"  sex            {facts.SexText}");
            output.WriteLine($"  address        {facts.Address}");
        }
        else
        {
            output.WriteLine("signer: the four facts are not available");
        }

        if (result.Signer is { } signer)
        {
            output.WriteLine($"certificate      serial {signer.SerialHex}, issuer {signer.Issuer}");
            output.WriteLine($"                 valid {Jst(signer.NotBefore)} – {Jst(signer.NotAfter)}");
        }

        if (result.ClaimedSigningTime is { } claimed)
        {
            output.WriteLine($"signing time     {Jst(claimed)} (claimed by the signer, not trusted)");
        }

        output.WriteLine("checks:");
        foreach (var check in result.Checks)
        {
            var status = check.Status switch
            {
                CheckStatus.Passed => "ok",
                CheckStatus.Failed => "FAILED " + check.Reason,
                _ => "not checked",
            };
            output.WriteLine($"  {check.Check.ToString().ToLowerInvariant(),-12} {status}: {check.Detail}");
        }

        var verdict = result.IsValid
            ? $"GOOD: the signature is valid and the certificate is good ({result.Revocation.Source})"
            : result.FirstFailure is { } f ? $"{Verdict(f.Reason)}: {Describe(f.Reason)}" : "BAD";
        output.WriteLine("status: " + verdict);
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.Create(UnicodeRanges.All),
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The result as JSON for machines: no DER, enums as their names, times in UTC ISO 8601.</summary>
    private static void PrintJson(VerificationResult result)
    {
        static object? Certificate(CertificateInfo? c) => c is null ? null : new { subject = c.Subject, issuer = c.Issuer, serial = c.SerialHex, notBefore = c.NotBefore, notAfter = c.NotAfter };
        var document = new
        {
            valid = result.IsValid,
            signatureValid = result.SignatureValid,
            status = result.IsValid ? "good" : result.FirstFailure is { } f ? Verdict(f.Reason).ToLowerInvariant() : "invalid",
            failure = result.FirstFailure?.Reason.ToString(),
            exitCode = result.IsValid ? 0 : ExitCodes.For(result.FirstFailure?.Reason ?? FailureReason.MalformedSignature),
            facts = result.Facts is { } facts ? new
            {
                name = facts.Name,
                nameSubstitutes = facts.NameSubstitutes,
                dateOfBirth = facts.DateOfBirth,
                dateOfBirthText = facts.DateOfBirthText,
                sex = facts.Sex,
                address = facts.Address,
                addressSubstitutes = facts.AddressSubstitutes,
            } : null,
            signer = Certificate(result.Signer),
            chain = result.Chain.Select(Certificate).ToList(),
            checks = result.Checks.Select(c => new { check = c.Check.ToString(), status = c.Status.ToString(), reason = c.Reason == FailureReason.None ? null : c.Reason.ToString(), detail = c.Detail }).ToList(),
            revocation = new
            {
                state = result.Revocation.State.ToString(),
                source = result.Revocation.Source,
                revokedAt = result.Revocation.RevokedAt,
                reason = result.Revocation.Reason,
                thisUpdate = result.Revocation.ThisUpdate,
                nextUpdate = result.Revocation.NextUpdate,
                nonceEchoed = result.Revocation.NonceEchoed,
            },
            validationTime = result.ValidationTime,
            claimedSigningTime = result.ClaimedSigningTime,
        };
        Console.Out.WriteLine(JsonSerializer.Serialize(document, JsonOptions));
    }

    private static string Verdict(FailureReason reason) => reason switch
    {
        FailureReason.Revoked => "REVOKED",
        FailureReason.RevocationUnknown or FailureReason.RevocationUnavailable => "UNKNOWN",
        _ => "INVALID",
    };

    private static string Describe(FailureReason reason) => reason switch
    {
        FailureReason.MalformedSignature => "the signature file is not a usable CMS detached signature",
        FailureReason.SignerCertificateMissing => "the signature does not carry the signer's certificate",
        FailureReason.BadSignature => "the signature does not verify (the signature was altered or made with another key)",
        FailureReason.ContentMismatch => "the document does not match the signature (the document was altered)",
        FailureReason.UntrustedChain => "the signer certificate is not issued by a trusted root",
        FailureReason.WrongIssuer => "the signer certificate is not signed by the trusted root of that name",
        FailureReason.Expired => "the signer certificate has expired",
        FailureReason.NotYetValid => "the signer certificate is not valid yet",
        FailureReason.WrongKeyUsage => "the certificate is not a signing certificate (key usage)",
        FailureReason.UnrecognizedCriticalExtension => "the certificate has an unrecognised critical extension",
        FailureReason.PolicyNotAccepted => "the certificate's policy is not accepted",
        FailureReason.MissingSignerFacts => "the certificate does not carry the signer's four facts",
        FailureReason.Revoked => "the signer certificate is revoked",
        FailureReason.RevocationUnknown => "the certificate's status is unknown",
        FailureReason.RevocationUnavailable => "the certificate's status could not be obtained",
        _ => reason.ToString(),
    };

    private static string Jst(DateTimeOffset time) =>
        time.ToOffset(TimeSpan.FromHours(9)).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " JST";

    private sealed record Parsed(string Input, string Signature, Uri? Ocsp, string? TokenFile, ImmutableList<string> Crls, string Roots, DateTimeOffset? At, bool RequireNonce, bool Json);

    private static Parsed Parse(string input, string signature, string? ocspText, string? tokenFile, string[] crls, string? roots, string? atText, bool requireNonce, bool json)
    {
        Uri? ocsp = null;
        DateTimeOffset? at = null;
        if (ocspText is not null)
        {
            ocsp = Uri.TryCreate(ocspText, UriKind.Absolute, out var url) && url.Scheme is "http" or "https" ? url : throw new ArgumentException($"--ocsp '{ocspText}' is not an http(s) URL");
        }

        if (atText is not null)
        {
            at = DateTimeOffset.TryParse(atText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time) ? time : throw new ArgumentException($"--at '{atText}' is not a time (ISO 8601)");
        }

        if (ocsp is not null && crls.Length > 0)
        {
            throw new ArgumentException("give --ocsp or --crl, not both");
        }

        var home = Environment.GetEnvironmentVariable("JPKI_HOME") is { Length: > 0 } h ? h : Path.Combine(Environment.CurrentDirectory, "var");
        if (ocsp is not null && tokenFile is null && File.Exists(Path.Combine(home, "secrets", "verifier.token")))
        {
            tokenFile = Path.Combine(home, "secrets", "verifier.token");
        }

        return new Parsed(input, signature, ocsp, tokenFile, [.. crls], roots ?? Path.Combine(home, "certs"), at, requireNonce, json);
    }
}

/// <summary>The exit codes of <c>jpki verify</c>: 0 only for a good signature with a good status.</summary>
internal static class ExitCodes
{
    public const int Usage = 2;
    public const int Input = 3;

    public static int For(FailureReason reason) => reason switch
    {
        FailureReason.MalformedSignature => 10,
        FailureReason.SignerCertificateMissing => 11,
        FailureReason.BadSignature => 12,
        FailureReason.ContentMismatch => 13,
        FailureReason.UntrustedChain => 14,
        FailureReason.WrongIssuer => 15,
        FailureReason.Expired => 16,
        FailureReason.NotYetValid => 17,
        FailureReason.WrongKeyUsage => 18,
        FailureReason.UnrecognizedCriticalExtension => 19,
        FailureReason.PolicyNotAccepted => 20,
        FailureReason.MissingSignerFacts => 21,
        FailureReason.Revoked => 30,
        FailureReason.RevocationUnknown => 31,
        FailureReason.RevocationUnavailable => 32,
        _ => 1,
    };
}
