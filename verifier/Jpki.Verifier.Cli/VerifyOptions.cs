using System.Collections.Immutable;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Xml;

/// <summary>
/// The options of <c>jpki verify</c>, the rules between them (each form of the command reports
/// what it lacks), and their reading into a <see cref="VerifyRequest"/>.
/// </summary>
internal sealed class VerifyOptions
{
    // --in/--sig or --xml: checked below, so that each form reports what it lacks.
    private readonly Option<string> _input = new("--in") { Description = "the signed document (the content of the detached signature)", HelpName = "FILE" };
    private readonly Option<string> _signature = new("--sig") { Description = "the CMS (PKCS#7) detached signature, DER", HelpName = "FILE.p7s" };
    private readonly Option<string> _xml = new("--xml") { Description = "an XML document carrying one XML-DSig signature (enveloped, or detached beside the signed element), instead of --in/--sig", HelpName = "FILE" };
    private readonly Option<string> _element = new("--element") { Description = "with --xml: the element the application processes, as NAME or {namespace}NAME; it must occur once and be what the signature covers (default: the document element)", HelpName = "NAME" };
    private readonly Option<string> _certificate = new("--cert") { Description = "with --xml: the certificate expected to have signed (PEM or DER); the KeyInfo must not name another", HelpName = "FILE" };
    private readonly Option<string> _ocsp = new("--ocsp") { Description = "ask this OCSP responder (e.g. http://127.0.0.1:8082/ocsp)", HelpName = "URL" };
    private readonly Option<string> _tokenFile = new("--token-file") { Description = "the verifier's API token (default: $JPKI_HOME/secrets/verifier.token if it exists)", HelpName = "F" };
    private readonly Option<string[]> _crls = new("--crl") { Description = "a CRL (DER or PEM): the full CRL or the signer's municipality partition, and its delta; repeatable", HelpName = "FILE" };
    private readonly Option<string> _roots = new("--roots") { Description = "trusted roots, PEM files (default: $JPKI_HOME/certs; every self-signed CA there is a root)", HelpName = "DIR" };
    private readonly Option<string> _at = new("--at") { Description = "validate the certificate at this time (ISO 8601, e.g. 2026-11-23T10:00:00+09:00) instead of now", HelpName = "TIME" };
    private readonly Option<bool> _requireNonce = new("--require-nonce") { Description = "refuse an OCSP answer that does not echo the request's nonce" };
    private readonly Option<bool> _json = new("--json") { Description = "print the result as one JSON object instead of text (same exit codes)" };
    private readonly Option<string> _evidence = new("--evidence") { Description = "also write the evidence (document, signature, chain, the OCSP answer or CRLs used) sealed with an RFC 3161 time-stamp to this file", HelpName = "OUT" };
    private readonly Option<string> _tsa = new("--tsa") { Description = "with --evidence: the time-stamping service (default http://127.0.0.1:8085/tsa, ./jpki tsa)", HelpName = "URL" };
    private readonly Option<string> _withEvidence = new("--with-evidence") { Description = "check an evidence file again, from it alone, at the time its time-stamp proves (instead of --in/--sig or --xml)", HelpName = "FILE" };
    private readonly Option<string> _tsaCert = new("--tsa-cert") { Description = "with --with-evidence: the trusted TSA certificate (default: $JPKI_HOME/tsa/tsa.pem)", HelpName = "FILE" };

    public Option[] All => [_input, _signature, _xml, _element, _certificate, _ocsp, _tokenFile, _crls, _roots, _at, _requireNonce, _json, _evidence, _tsa, _withEvidence, _tsaCert];

    /// <summary>The evidence file to check again (<c>--with-evidence</c>), with what that check reads.</summary>
    public (string File, string? TsaCertificate, string? Roots, bool Json)? Recheck(ParseResult parse) =>
        parse.GetValue(_withEvidence) is { } file ? (file, parse.GetValue(_tsaCert), parse.GetValue(_roots), parse.GetValue(_json)) : null;

    public void Validate(CommandResult result)
    {
        if (result.Children.OfType<CommandResult>().Any())
        {
            // `verify auth` / `verify challenge`: their own options, their own checks.
            return;
        }

        if (result.GetResult(_withEvidence) is not null)
        {
            if (new Option[] { _input, _signature, _xml, _element, _certificate, _ocsp, _crls, _at, _evidence, _tsa }.Any(o => result.GetResult(o) is not null))
            {
                result.AddError("--with-evidence takes the document, signature, status and time from the evidence: give only --tsa-cert, --roots, --json");
            }
        }
        else if (result.GetResult(_tsaCert) is not null)
        {
            result.AddError("--tsa-cert goes with --with-evidence");
        }
        else if (result.GetResult(_tsa) is not null && result.GetResult(_evidence) is null)
        {
            result.AddError("--tsa goes with --evidence");
        }
        else if (result.GetResult(_evidence) is not null && result.GetResult(_at) is not null)
        {
            result.AddError("--evidence records a verification made now; --at would date it otherwise");
        }
        else if (result.GetResult(_xml) is not null)
        {
            if (result.GetResult(_input) is not null || result.GetResult(_signature) is not null)
            {
                result.AddError("give --xml or --in/--sig, not both");
            }
        }
        else if (result.GetResult(_input) is null)
        {
            result.AddError("Option '--in' is required (or --xml for an XML signature).");
        }
        else if (result.GetResult(_signature) is null)
        {
            result.AddError("Option '--sig' is required.");
        }
        else if (result.GetResult(_element) is not null || result.GetResult(_certificate) is not null)
        {
            result.AddError("--element and --cert go with --xml");
        }
    }

    /// <exception cref="ArgumentException">A value is malformed or two options contradict each other.</exception>
    public VerifyRequest Read(ParseResult parse) => VerifyRequest.Parse(
        parse.GetValue(_input),
        parse.GetValue(_signature),
        parse.GetValue(_xml),
        parse.GetValue(_element),
        parse.GetValue(_certificate),
        parse.GetValue(_ocsp),
        parse.GetValue(_tokenFile),
        parse.GetValue(_crls) ?? [],
        parse.GetValue(_roots),
        parse.GetValue(_at),
        parse.GetValue(_requireNonce),
        parse.GetValue(_json),
        parse.GetValue(_evidence),
        parse.GetValue(_tsa));
}

/// <summary>What <c>jpki verify</c> was asked to check, read and checked from its options.</summary>
internal sealed record VerifyRequest(string? Input, string? Signature, string? Xml, XmlQualifiedName? Element, string? Certificate, Uri? Ocsp, string? TokenFile, ImmutableList<string> Crls, string Roots, DateTimeOffset? At, bool RequireNonce, bool Json, string? Evidence, Uri Tsa)
{
    public static VerifyRequest Parse(string? input, string? signature, string? xml, string? elementText, string? certificate, string? ocspText, string? tokenFile, string[] crls, string? roots, string? atText, bool requireNonce, bool json, string? evidence, string? tsaText)
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

        return new VerifyRequest(input, signature, xml, element, certificate, ocsp, tokenFile, [.. crls], roots ?? Path.Combine(home, "certs"), at, requireNonce, json, evidence, tsa);
    }
}
