namespace Jpki.CrlPublisher;

/// <summary>What a CRL series covers (JPKI-PROFILE §7).</summary>
public enum CrlScopeKind
{
    /// <summary>Every certificate of the issuer key; no issuingDistributionPoint.</summary>
    Full,

    /// <summary>The end-entity certificates of one municipality (a partition: IDP = their CRL DP, onlyContainsUserCerts).</summary>
    Municipality,

    /// <summary>
    /// The authority revocation list: the key's CA certificates (roots, link certificates) and its
    /// delegated OCSP responder certificates; IDP = the root's CRL DP, not onlyContainsCACerts
    /// since a responder certificate is an end-entity certificate (decision 0420).
    /// </summary>
    Arl,
}

/// <summary>
/// A CRL series is (issuer key, scope). <see cref="StoreName"/> is how the store names the scope
/// (<c>full</c>, <c>arl</c>, <c>m/352012</c>); the file and URL names follow docs/design.md §9.
/// </summary>
public sealed record CrlSeries(string IssuerKeyId, CrlScopeKind Kind, string? MunicipalityCode = null)
{
    public string StoreName => Kind switch
    {
        CrlScopeKind.Full => "full",
        CrlScopeKind.Arl => "arl",
        _ => "m/" + MunicipalityCode,
    };

    /// <summary>The ARL has no deltas: CA certificates change rarely and the URLs name no ARL delta.</summary>
    public bool HasDeltas => Kind != CrlScopeKind.Arl;

    /// <summary>Path of the complete CRL below the issuer key's directory (and below <c>/crl/{issuerKeyId}/</c>).</summary>
    public string CompleteName => Kind switch
    {
        CrlScopeKind.Full => "full.crl",
        CrlScopeKind.Arl => "arl.crl",
        _ => $"m/{MunicipalityCode}.crl",
    };

    public string DeltaName => Kind switch
    {
        CrlScopeKind.Full => "delta.crl",
        CrlScopeKind.Municipality => $"m/{MunicipalityCode}-delta.crl",
        _ => throw new InvalidOperationException("the ARL has no delta CRLs"),
    };

    public string FileName(bool delta) => delta ? DeltaName : CompleteName;

    public string Url(string crlBase, bool delta) => $"{crlBase.TrimEnd('/')}/crl/{IssuerKeyId}/{FileName(delta)}";

    public override string ToString() => $"{IssuerKeyId}/{StoreName}";

    /// <summary>The inverse of <see cref="StoreName"/>.</summary>
    public static CrlSeries Parse(string issuerKeyId, string storeName) => storeName switch
    {
        "full" => new CrlSeries(issuerKeyId, CrlScopeKind.Full),
        "arl" => new CrlSeries(issuerKeyId, CrlScopeKind.Arl),
        _ when storeName.StartsWith("m/", StringComparison.Ordinal) => new CrlSeries(issuerKeyId, CrlScopeKind.Municipality, storeName[2..]),
        _ => throw new FormatException($"unknown CRL scope '{storeName}'"),
    };
}
