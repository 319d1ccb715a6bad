using System.Collections.Immutable;
using System.CommandLine;
using System.Globalization;
using System.Xml;
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
        // --in/--sig or --xml: checked below, so that each form reports what it lacks.
        var input = new Option<string>("--in") { Description = "the signed document (the content of the detached signature)", HelpName = "FILE" };
        var signature = new Option<string>("--sig") { Description = "the CMS (PKCS#7) detached signature, DER", HelpName = "FILE.p7s" };
        var xml = new Option<string>("--xml") { Description = "an XML document carrying one XML-DSig signature (enveloped, or detached beside the signed element), instead of --in/--sig", HelpName = "FILE" };
        var element = new Option<string>("--element") { Description = "with --xml: the element the application processes, as NAME or {namespace}NAME; it must occur once and be what the signature covers (default: the document element)", HelpName = "NAME" };
        var certificate = new Option<string>("--cert") { Description = "with --xml: the certificate expected to have signed (PEM or DER); the KeyInfo must not name another", HelpName = "FILE" };
        var ocsp = new Option<string>("--ocsp") { Description = "ask this OCSP responder (e.g. http://127.0.0.1:8082/ocsp)", HelpName = "URL" };
        var tokenFile = new Option<string>("--token-file") { Description = "the verifier's API token (default: $JPKI_HOME/secrets/verifier.token if it exists)", HelpName = "F" };
        var crls = new Option<string[]>("--crl") { Description = "a CRL (DER or PEM): the full CRL or the signer's municipality partition, and its delta; repeatable", HelpName = "FILE" };
        var roots = new Option<string>("--roots") { Description = "trusted roots, PEM files (default: $JPKI_HOME/certs; every self-signed CA there is a root)", HelpName = "DIR" };
        var at = new Option<string>("--at") { Description = "validate the certificate at this time (ISO 8601, e.g. 2026-11-23T10:00:00+09:00) instead of now", HelpName = "TIME" };
        var requireNonce = new Option<bool>("--require-nonce") { Description = "refuse an OCSP answer that does not echo the request's nonce" };
        var json = new Option<bool>("--json") { Description = "print the result as one JSON object instead of text (same exit codes)" };
        var evidence = new Option<string>("--evidence") { Description = "also write the evidence (document, signature, chain, the OCSP answer or CRLs used) sealed with an RFC 3161 time-stamp to this file", HelpName = "OUT" };
        var tsa = new Option<string>("--tsa") { Description = "with --evidence: the time-stamping service (default http://127.0.0.1:8085/tsa, ./jpki tsa)", HelpName = "URL" };
        var withEvidence = new Option<string>("--with-evidence") { Description = "check an evidence file again, from it alone, at the time its time-stamp proves (instead of --in/--sig or --xml)", HelpName = "FILE" };
        var tsaCert = new Option<string>("--tsa-cert") { Description = "with --with-evidence: the trusted TSA certificate (default: $JPKI_HOME/tsa/tsa.pem)", HelpName = "FILE" };
        var verify = new Command("verify", "Check a resident's detached signature: the signature, the chain to a trusted root, the profile, and the certificate's status (OCSP or CRLs).")
        {
            input, signature, xml, element, certificate, ocsp, tokenFile, crls, roots, at, requireNonce, json, evidence, tsa, withEvidence, tsaCert,
        };
        verify.Validators.Add(result =>
        {
            if (result.Children.OfType<System.CommandLine.Parsing.CommandResult>().Any())
            {
                // `verify auth` / `verify challenge`: their own options, their own checks.
                return;
            }

            if (result.GetResult(withEvidence) is not null)
            {
                if (new Option[] { input, signature, xml, element, certificate, ocsp, crls, at, evidence, tsa }.Any(o => result.GetResult(o) is not null))
                {
                    result.AddError("--with-evidence takes the document, signature, status and time from the evidence: give only --tsa-cert, --roots, --json");
                }
            }
            else if (result.GetResult(tsaCert) is not null)
            {
                result.AddError("--tsa-cert goes with --with-evidence");
            }
            else if (result.GetResult(tsa) is not null && result.GetResult(evidence) is null)
            {
                result.AddError("--tsa goes with --evidence");
            }
            else if (result.GetResult(evidence) is not null && result.GetResult(at) is not null)
            {
                result.AddError("--evidence records a verification made now; --at would date it otherwise");
            }
            else if (result.GetResult(xml) is not null)
            {
                if (result.GetResult(input) is not null || result.GetResult(signature) is not null)
                {
                    result.AddError("give --xml or --in/--sig, not both");
                }
            }
            else if (result.GetResult(input) is null)
            {
                result.AddError("Option '--in' is required (or --xml for an XML signature).");
            }
            else if (result.GetResult(signature) is null)
            {
                result.AddError("Option '--sig' is required.");
            }
            else if (result.GetResult(element) is not null || result.GetResult(certificate) is not null)
            {
                result.AddError("--element and --cert go with --xml");
            }
        });
        verify.SetAction(async (parse, _) =>
        {
            if (parse.GetValue(withEvidence) is { } evidenceFile)
            {
                return await EvidenceCommand.RecheckAsync(evidenceFile, parse.GetValue(tsaCert), parse.GetValue(roots), parse.GetValue(json));
            }

            Parsed parsed;
            try
            {
                parsed = Parse(
                    parse.GetValue(input),
                    parse.GetValue(signature),
                    parse.GetValue(xml),
                    parse.GetValue(element),
                    parse.GetValue(certificate),
                    parse.GetValue(ocsp),
                    parse.GetValue(tokenFile),
                    parse.GetValue(crls) ?? [],
                    parse.GetValue(roots),
                    parse.GetValue(at),
                    parse.GetValue(requireNonce),
                    parse.GetValue(json),
                    parse.GetValue(evidence),
                    parse.GetValue(tsa));
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

    private static async Task<int> VerifyAsync(Parsed parsed)
    {
        VerifierOptions options;
        byte[] content = [], signature = [];
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
                        return ExitCodes.Input;
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

        VerificationResult result;
        SignedElementInfo? signedElement = null;
        if (parsed.Xml is not null)
        {
            var xmlResult = await XmlSignatureVerifier.VerifyAsync(signature, options, new XmlSignatureOptions { SignedElement = parsed.Element, ExpectedCertificate = expected });
            result = xmlResult.Verification;
            signedElement = new SignedElementInfo(xmlResult.SignedElement?.LocalName, xmlResult.SignedElement?.NamespaceURI, xmlResult.ReferenceUri);
        }
        else
        {
            result = await SignatureVerifier.VerifyAsync(content, signature, options);
        }

        if (parsed.Evidence is not null)
        {
            var record = parsed.Xml is not null
                ? LongTermEvidence.Capture("xml", signature, null, parsed.Element, result, options)
                : LongTermEvidence.Capture("cms", content, signature, null, result, options);
            try
            {
                await File.WriteAllBytesAsync(parsed.Evidence, await LongTermEvidence.SealAsync(record, parsed.Tsa));
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

    private sealed record Parsed(string? Input, string? Signature, string? Xml, XmlQualifiedName? Element, string? Certificate, Uri? Ocsp, string? TokenFile, ImmutableList<string> Crls, string Roots, DateTimeOffset? At, bool RequireNonce, bool Json, string? Evidence, Uri Tsa);

    private static Parsed Parse(string? input, string? signature, string? xml, string? elementText, string? certificate, string? ocspText, string? tokenFile, string[] crls, string? roots, string? atText, bool requireNonce, bool json, string? evidence, string? tsaText)
    {
        var tsa = tsaText is null
            ? new Uri("http://127.0.0.1:8085/tsa")
            : Uri.TryCreate(tsaText, UriKind.Absolute, out var tsaUrl) && tsaUrl.Scheme is "http" or "https" ? tsaUrl : throw new ArgumentException($"--tsa '{tsaText}' is not an http(s) URL");
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

        XmlQualifiedName? element = null;
        if (elementText is not null)
        {
            var (ns, local) = elementText.StartsWith('{') && elementText.IndexOf('}', StringComparison.Ordinal) is > 0 and var close
                ? (elementText[1..close], elementText[(close + 1)..])
                : ("", elementText);
            try
            {
                element = new XmlQualifiedName(XmlConvert.VerifyNCName(local), ns);
            }
            catch (XmlException)
            {
                throw new ArgumentException($"--element '{elementText}' is not NAME or {{namespace}}NAME");
            }
        }

        return new Parsed(input, signature, xml, element, certificate, ocsp, tokenFile, [.. crls], roots ?? Path.Combine(home, "certs"), at, requireNonce, json, evidence, tsa);
    }
}

/// <summary>The exit codes of <c>jpki verify</c>: 0 only for a good signature with a good status.</summary>
internal static class ExitCodes
{
    public const int Usage = 2;
    public const int Input = 3;
    public const int EvidenceNotSealed = 52;

    public static int For(FailureReason reason) => VerificationReport.ExitCode(reason);
}
