using System.CommandLine;
using System.Globalization;
using Jpki.Cli;
using Jpki.Verifier;

// jpki verify (--in FILE --sig FILE.p7s | --xml FILE [--element NAME] [--cert FILE]) [--ocsp URL [--token-file F]] | [--crl FILE ...] [--roots DIR] [--at TIME] [--require-nonce]
return await VerifyCommand.RunAsync(args);

internal static class VerifyCommand
{
    public static Task<int> RunAsync(string[] args) =>
        // `dotnet Jpki.Verifier.Cli.dll verify ...` (as ./jpki runs it) or without the verb.
        CliApp.RunAsync(Build(), args.Length > 0 && args[0] == "verify" ? args : ["verify", .. args]);

    private static Command Build()
    {
        var options = new VerifyOptions();
        var verify = new Command("verify", "Check a resident's detached signature: the signature, the chain to a trusted root, the profile, and the certificate's status (OCSP or CRLs).");
        foreach (var option in options.All)
        {
            verify.Options.Add(option);
        }

        verify.Validators.Add(options.Validate);
        verify.SetAction(async (parse, _) =>
        {
            if (options.Recheck(parse) is { } recheck)
            {
                return await EvidenceCommand.RecheckAsync(recheck.File, recheck.TsaCertificate, recheck.Roots, recheck.Json);
            }

            VerifyRequest request;
            try
            {
                request = options.Read(parse);
            }
            catch (ArgumentException e)
            {
                return CliApp.UsageErrorOf(parse, "verify: " + e.Message);
            }

            return await VerifyAsync(request);
        });
        verify
            .WithExamples(
                "./jpki verify --in doc.pdf --sig doc.p7s --ocsp http://127.0.0.1:8082/ocsp",
                "./jpki verify --in doc.pdf --sig doc.p7s --crl var/crl/<issuerKeyId>/full.crl --at 2026-11-23T10:00:00+09:00 --json",
                "./jpki verify --xml return.xml --ocsp http://127.0.0.1:8082/ocsp",
                "./jpki verify --xml filing.xml --element '{urn:example:e-filing}Return' --crl full.crl --json",
                "./jpki verify --in doc.pdf --sig doc.p7s --ocsp http://127.0.0.1:8082/ocsp --evidence doc.evidence.json",
                "./jpki verify --with-evidence doc.evidence.json")
            .WithExitCodes(
            [
                (0, "good signature, good status"),
                (1, "another failure"),
                (ExitCodes.Input, "unreadable input (document, signature, XML, certificate, token file, roots, evidence, TSA certificate)"),
                (ExitCodes.EvidenceNotSealed, "--evidence: the verification ran but no time-stamp could be had (TSA unreachable or refusing); nothing written"),
                .. Enum.GetValues<FailureReason>().Where(r => r != FailureReason.None).Select(r => (ExitCodes.For(r), Describe(r))).Where(c => c.Item1 != 1),
            ]);
        verify.Subcommands.Add(LoginCommands.Challenge());
        verify.Subcommands.Add(LoginCommands.Auth());
        var root = CliApp.Root("jpki", "The JPKI verifier toolkit.");
        root.Subcommands.Add(verify);
        return root;
    }


    private static async Task<int> VerifyAsync(VerifyRequest parsed)
    {
        var (inputs, exitCode) = await ReadInputsAsync(parsed);
        if (inputs is null)
        {
            return exitCode;
        }

        VerificationResult result;
        SignedElementInfo? signedElement = null;
        if (parsed.Xml is not null)
        {
            var xmlResult = await XmlSignatureVerifier.VerifyAsync(inputs.Signature, inputs.Options, new XmlSignatureOptions { SignedElement = parsed.Element, ExpectedCertificate = inputs.Expected });
            result = xmlResult.Verification;
            signedElement = new SignedElementInfo(xmlResult.SignedElement?.LocalName, xmlResult.SignedElement?.NamespaceURI, xmlResult.ReferenceUri);
        }
        else
        {
            result = await SignatureVerifier.VerifyAsync(inputs.Content, inputs.Signature, inputs.Options);
        }

        if (parsed.Evidence is not null && await WriteEvidenceAsync(parsed, parsed.Evidence, inputs, result) is { } evidenceFailure)
        {
            return evidenceFailure;
        }

        if (parsed.Json)
        {
            PrintJson(result, signedElement);
        }
        else
        {
            Print(result, signedElement);
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

    /// <summary>What a verification reads from files: the document, the signature, the expected signer, the roots, the status source.</summary>
    private sealed record Inputs(VerifierOptions Options, byte[] Content, byte[] Signature, Org.BouncyCastle.X509.X509Certificate? Expected);

    /// <summary>The inputs, or null and the exit code after saying on standard error what could not be read.</summary>
    private static async Task<(Inputs? Inputs, int ExitCode)> ReadInputsAsync(VerifyRequest parsed)
    {
        byte[] content = [], signature;
        Org.BouncyCastle.X509.X509Certificate? expected = null;
        try
        {
            if (parsed.Xml is not null)
            {
                signature = File.ReadAllBytes(parsed.Xml);
                if (parsed.Certificate is not null)
                {
                    var certificates = TrustAnchors.ReadCertificates(File.ReadAllBytes(parsed.Certificate));
                    if (certificates.Count != 1)
                    {
                        Console.Error.WriteLine($"verify: '{parsed.Certificate}' does not hold one certificate (PEM or DER)");
                        return (null, ExitCodes.Input);
                    }

                    expected = certificates[0];
                }
            }
            else
            {
                content = File.ReadAllBytes(parsed.Input!);
                signature = File.ReadAllBytes(parsed.Signature!);
            }

            var roots = TrustAnchors.FromDirectory(parsed.Roots);
            if (roots.Length == 0)
            {
                Console.Error.WriteLine($"verify: no self-signed CA certificate in '{parsed.Roots}'");
                return (null, ExitCodes.Input);
            }

            RevocationSource revocation = parsed.Ocsp is not null
                ? new RevocationSource.Ocsp(parsed.Ocsp, parsed.TokenFile is null ? null : (await File.ReadAllTextAsync(parsed.TokenFile)).Trim())
                : parsed.Crls.Count > 0 ? RevocationSource.Crls.FromFiles(parsed.Crls) : new RevocationSource.None();
            var options = new VerifierOptions { Roots = roots, Revocation = revocation, ValidationTime = parsed.At, RequireOcspNonce = parsed.RequireNonce };
            return (new Inputs(options, content, signature, expected), 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine("verify: " + e.Message);
            return (null, ExitCodes.Input);
        }
    }

    /// <summary>Seals and writes the evidence of <paramref name="result"/>; null when written, else the exit code.</summary>
    private static async Task<int?> WriteEvidenceAsync(VerifyRequest parsed, string file, Inputs inputs, VerificationResult result)
    {
        var record = parsed.Xml is not null
            ? LongTermEvidence.Capture("xml", inputs.Signature, null, parsed.Element, result, inputs.Options)
            : LongTermEvidence.Capture("cms", inputs.Content, inputs.Signature, null, result, inputs.Options);
        try
        {
            await File.WriteAllBytesAsync(file, await LongTermEvidence.SealAsync(record, parsed.Tsa));
            return null;
        }
        catch (TimeStampException e)
        {
            Console.Error.WriteLine("verify: no evidence written: " + e.Message);
            return ExitCodes.EvidenceNotSealed;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine("verify: no evidence written: " + e.Message);
            return ExitCodes.Input;
        }
    }

    internal static void Print(VerificationResult result, SignedElementInfo? signedElement, bool login = false)
    {
        var output = Console.Out;
        if (login)
        {
            output.WriteLine("holder: not named (a user-authentication certificate carries no four facts)");
        }
        else if (result.Facts is { } facts)
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

        if (signedElement is { Name: { } name })
        {
            output.WriteLine($"signed element   <{name}>{(string.IsNullOrEmpty(signedElement.Namespace) ? "" : $" in {signedElement.Namespace}")}, reference \"{signedElement.Reference}\" (read this element, not another of the same name)");
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
            ? login
                ? $"GOOD: the login is accepted: the certificate is valid and good ({result.Revocation.Source})"
                : $"GOOD: the signature is valid and the certificate is good ({result.Revocation.Source})"
            : result.FirstFailure is { } f ? $"{Verdict(f.Reason)}: {Describe(f.Reason)}" : "BAD";
        output.WriteLine("status: " + verdict);
    }

    /// <summary>The result as JSON for machines (<see cref="VerificationReport"/>, the same document the HTTP service answers).</summary>
    internal static void PrintJson(VerificationResult result, SignedElementInfo? signedElement, object? login = null, object? evidence = null) =>
        Console.Out.WriteLine(VerificationReport.ToJson(result, signedElement, login, evidence));

    internal static string Verdict(FailureReason reason) => VerificationReport.Verdict(reason);

    internal static string Describe(FailureReason reason) => reason switch
    {
        FailureReason.MalformedSignature => "the signature is not usable (not a CMS detached signature, or not one XML-DSig signature of an accepted form)",
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
        FailureReason.MalformedXml => "the XML is not well-formed or declares a DTD (refused)",
        FailureReason.SignatureWrapping => "the signature does not cover the element processed (signature wrapping)",
        FailureReason.ExternalReference => "the signature refers to data outside the document",
        FailureReason.ForbiddenTransform => "the signature uses a transform that is not accepted (XSLT, XPath, ...)",
        FailureReason.KeyInfoMismatch => "the signature's KeyInfo names another certificate or key than the one checked",
        FailureReason.ChallengeMacInvalid => "the login challenge was not issued by this service (MAC)",
        FailureReason.WrongAudience => "the login challenge is for another service (relayed)",
        FailureReason.ChallengeExpired => "the login challenge has expired",
        FailureReason.ChallengeReplayed => "the login challenge was answered before (replay)",
        FailureReason.EvidenceMalformed => "the evidence file is not one of this format",
        FailureReason.TimeStampInvalid => "the evidence's time-stamp is not a trusted TSA's or does not cover the evidence (altered)",
        _ => reason.ToString(),
    };

    private static string Jst(DateTimeOffset time) =>
        time.ToOffset(TimeSpan.FromHours(9)).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " JST";
}

/// <summary>The exit codes of <c>jpki verify</c>: 0 only for a good signature with a good status.</summary>
internal static class ExitCodes
{
    public const int Usage = 2;
    public const int Input = 3;
    public const int EvidenceNotSealed = 52;

    public static int For(FailureReason reason) => VerificationReport.ExitCode(reason);
}
