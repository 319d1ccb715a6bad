namespace Jpki.Core.Configuration;

/// <summary>
/// The <c>verifier</c> section: the HTTP verification service (port 8086, <c>./jpki verify-service</c>,
/// docs/verifier-guide.md). Its command-line options override these values.
/// </summary>
public sealed record VerifierServiceSettings
{
    /// <summary>Where the plain HTTP listener listens (<c>--urls</c> overrides).</summary>
    public string Listen { get; init; } = "http://127.0.0.1:8086";

    /// <summary>The OCSP responder the service asks (with its own verifier token).</summary>
    public string OcspUrl { get; init; } = "http://127.0.0.1:8082/ocsp";

    /// <summary>The service's own verifier token towards the responder.</summary>
    public string TokenFile { get; init; } = "{home}/secrets/verifier.token";

    /// <summary>The trusted roots: every self-signed CA certificate in this directory.</summary>
    public string RootsDirectory { get; init; } = "{home}/certs";

    /// <summary>The largest request (JSON with base64 fields); the default takes a 6 MB document.</summary>
    public long MaxRequestBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>Logins (<c>type: auth</c>) are checked only when this is set.</summary>
    public VerifierLoginSettings? Login { get; init; }

    /// <summary>
    /// An optional HTTPS listener where callers may present a client certificate registered to an
    /// enabled verifier account instead of a bearer token (off when null).
    /// </summary>
    public MutualTlsSettings? MutualTls { get; init; }

    internal void Validate(string path)
    {
        if (!Uri.TryCreate(OcspUrl, UriKind.Absolute, out _) || Listen.Length == 0 || TokenFile.Length == 0 || RootsDirectory.Length == 0
            || MaxRequestBytes is < 1024 or > 256L * 1024 * 1024)
        {
            throw new InvalidDataException($"{path}: verifier settings out of range (listen, an absolute ocspUrl, tokenFile and rootsDirectory set; maxRequestBytes 1 KiB–256 MiB)");
        }

        if (Login is { } login && (login.Audience.Length == 0 || login.KeyFile.Length == 0 || login.Store.Length == 0))
        {
            throw new InvalidDataException($"{path}: verifier.login needs audience, keyFile and store");
        }

        MutualTls?.Validate(path, "verifier.mutualTls");
    }
}

/// <summary>The <c>verifier.login</c> section: the audience the service's login challenges name, their MAC key and the used-challenge store.</summary>
public sealed record VerifierLoginSettings
{
    /// <summary>The audience the e-filing system's challenges carry (e.g. its login URL).</summary>
    public string Audience { get; init; } = "";

    /// <summary>The challenges' MAC key (at least 32 bytes, mode 0600).</summary>
    public string KeyFile { get; init; } = "";

    /// <summary>The used-challenge store every instance shares (a SQLite or PostgreSQL connection string).</summary>
    public string Store { get; init; } = "Data Source={home}/verifier-logins.db";
}

/// <summary>The <c>tsa</c> section: the install's own RFC 3161 time-stamping service (port 8085, docs/decisions/0350).</summary>
public sealed record TsaSettings
{
    /// <summary>
    /// The example arc (ITU-T X.660 <c>2.999</c>): it names no real policy, so a token stamped
    /// under it says at once that the deployment has not set its own.
    /// </summary>
    public const string ExamplePolicy = "2.999.1";

    /// <summary>Where the service listens (<c>--urls</c> overrides).</summary>
    public string Listen { get; init; } = "http://127.0.0.1:8085";

    /// <summary>
    /// The TSA policy OID every token carries (RFC 3161 §2.4.2 <c>policy</c>). Set it to the OID the
    /// prefecture assigns to its time-stamping practice under its own registered arc; the default is
    /// under the example arc <c>2.999</c> and identifies no real policy.
    /// </summary>
    public string PolicyOid { get; init; } = ExamplePolicy;

    internal void Validate(string path)
    {
        var arcs = PolicyOid.Split('.');
        if (arcs.Length < 2 || arcs[0] is not ("0" or "1" or "2") || arcs.Any(a => a.Length == 0 || !a.All(char.IsAsciiDigit) || (a.Length > 1 && a[0] == '0')))
        {
            throw new InvalidDataException($"{path}: tsa.policyOid '{PolicyOid}' is not an object identifier (dotted decimal, e.g. {ExamplePolicy})");
        }

        if (Listen.Length == 0)
        {
            throw new InvalidDataException($"{path}: tsa.listen is required");
        }
    }
}
