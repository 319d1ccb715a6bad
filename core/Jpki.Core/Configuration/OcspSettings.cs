namespace Jpki.Core.Configuration;

/// <summary>The OCSP responder (ocsp/Jpki.Ocsp, docs/design.md §6).</summary>
public sealed record OcspSettings
{
    /// <summary>Where the responder listens (<c>--urls</c> overrides). Public URLs are <see cref="UrlSettings.OcspBase"/>.</summary>
    public string Listen { get; init; } = "http://127.0.0.1:8082";

    /// <summary>nextUpdate − thisUpdate of every answer (J-LIS: 15 minutes); capped by the responder certificate's notAfter.</summary>
    public int ValidityMinutes { get; init; } = 15;

    /// <summary>A cached answer is served until this long before its nextUpdate, then signed again.</summary>
    public int ServeUntilSecondsBeforeNextUpdate { get; init; } = 60;

    /// <summary>Answers queried within the last <see cref="RefreshRecentlyQueriedMinutes"/> are re-signed this long before nextUpdate.</summary>
    public int RefreshSecondsBeforeNextUpdate { get; init; } = 180;

    public int RefreshRecentlyQueriedMinutes { get; init; } = 30;

    /// <summary>How often status_changes is read for revocations to re-sign at once.</summary>
    public int StatusPollMilliseconds { get; init; } = 250;

    /// <summary>Live (nonce) signatures per verifier: bucket size and refill per minute; over it the cached answer, without nonce.</summary>
    public int NonceSignaturesBurst { get; init; } = 20;

    public int NonceSignaturesPerMinute { get; init; } = 120;

    /// <summary>Signatures for never-issued serials per verifier (unknowns cannot be pre-signed); over it: tryLater.</summary>
    public int UnknownSignaturesBurst { get; init; } = 20;

    public int UnknownSignaturesPerMinute { get; init; } = 60;

    /// <summary>Source networks (CIDR) whose requests need no credentials, e.g. a closed government network. Empty by default.</summary>
    public List<string> AllowedNetworks { get; init; } = [];

    /// <summary>Largest POST body read; a larger one is a malformedRequest.</summary>
    public int MaxRequestBytes { get; init; } = 8192;

    /// <summary>
    /// The answer cache's memory budget: bytes of cached answers and their keys (about 2.4 KB an answer
    /// with an RSA-2048 responder); past it the least recently queried are evicted. Sizing: docs/ocsp.md.
    /// </summary>
    public double CacheMegabytes { get; init; } = 256;

    /// <summary>
    /// The older bound, a count of cached answers; null (the default) leaves only <see cref="CacheMegabytes"/>.
    /// Kept so existing jpki.json files still load; when set, both bounds apply.
    /// </summary>
    public int? MaxCachedAnswers { get; init; }

    /// <summary>An optional HTTPS listener where verifiers present registered client certificates (off when null).</summary>
    public MutualTlsSettings? MutualTls { get; init; }

    /// <summary>Days of the query log older than the hot window go to compressed files (<see cref="OcspArchiveSettings"/>).</summary>
    public OcspArchiveSettings Archive { get; init; } = new();
}
