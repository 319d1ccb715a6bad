using System.Globalization;
using Jpki.Core.Profiles;
using Org.BouncyCastle.Math;

namespace Jpki.Core.Issuance;

/// <summary>Everything that varies between end-entity certificates (docs/jpki-profile.md §3, §5).</summary>
public sealed record EndEntityRequest
{
    public required IssuerKind Kind { get; init; }

    public required Prefecture Prefecture { get; init; }

    /// <summary>6-digit local government code (山口市 = 352012); names the CRL partition.</summary>
    public required string MunicipalityCode { get; init; }

    /// <summary>Romanised municipality name, e.g. <c>Yamaguchi-shi</c>: subject L and the partition CN.</summary>
    public required string MunicipalityName { get; init; }

    /// <summary>
    /// The subject CN. Signing: the issuance id, <c>yyyyMMddHHmmss</c> (JST) + 5-digit daily
    /// sequence + 9-character window id (28 characters). Authentication: an opaque 23-character id.
    /// </summary>
    public required string SubjectId { get; init; }

    /// <summary>The holder's DER SubjectPublicKeyInfo: RSA-2048, e=65537.</summary>
    public required byte[] SubjectPublicKeyInfo { get; init; }

    /// <summary>Normally <see cref="SerialNumbers.New"/>.</summary>
    public required BigInteger SerialNumber { get; init; }

    /// <summary>From <see cref="CertificateValidity.Compute"/>.</summary>
    public required CertificateValidity Validity { get; init; }

    /// <summary>The four facts: required for signing, absent for authentication.</summary>
    public ResidentFacts? Facts { get; init; }

    /// <summary>Public CRL base URL, e.g. <c>http://127.0.0.1:8083</c>; the partition CRL is <c>{crlBase}/crl/{issuerKeyId}/m/{code}.crl</c>.</summary>
    public required string CrlBaseUrl { get; init; }

    /// <summary>Public OCSP base URL; the responder is <c>{ocspBase}/ocsp</c>.</summary>
    public required string OcspBaseUrl { get; init; }

    /// <summary>The id-qt-cps qualifier of certificatePolicies.</summary>
    public required string CpsUrl { get; init; }

    /// <summary>The issuer root certificate, DER.</summary>
    public required byte[] IssuerCertificate { get; init; }

    /// <summary>
    /// The store's id of the issuer key (e.g. <c>yamaguchi-ken-signing-g1</c>): it names the key
    /// in every public URL (docs/design.md §9), as GET /api/v1/issuers and the CRL publisher do.
    /// </summary>
    public required string IssuerKeyId { get; init; }

    /// <summary>The municipality partition CRL of this issuer key.</summary>
    public string CrlUrl => $"{CrlBaseUrl.TrimEnd('/')}/crl/{IssuerKeyId}/m/{MunicipalityCode}.crl";

    public string OcspUrl => $"{OcspBaseUrl.TrimEnd('/')}/ocsp";

    /// <summary>Checks what can be checked without the issuer certificate.</summary>
    /// <exception cref="ArgumentException">The first problem found.</exception>
    public void Validate()
    {
        if (!Enum.IsDefined(Kind))
        {
            throw new ArgumentException($"unknown certificate kind {Kind}", nameof(Kind));
        }

        ArgumentNullException.ThrowIfNull(Prefecture, nameof(Prefecture));
        ArgumentNullException.ThrowIfNull(SubjectPublicKeyInfo, nameof(SubjectPublicKeyInfo));
        ArgumentNullException.ThrowIfNull(SerialNumber, nameof(SerialNumber));
        ArgumentNullException.ThrowIfNull(Validity, nameof(Validity));
        ArgumentNullException.ThrowIfNull(IssuerCertificate, nameof(IssuerCertificate));
        if (string.IsNullOrEmpty(IssuerKeyId) || !IssuerKeyId.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
        {
            throw new ArgumentException("the issuer key id must be lowercase letters, digits and '-' (it goes into URLs)", nameof(IssuerKeyId));
        }
        if (MunicipalityCode is null || !SubjectIds.IsMunicipalityCode(MunicipalityCode))
        {
            throw new ArgumentException($"municipality code must be 6 ASCII digits, got '{MunicipalityCode}'", nameof(MunicipalityCode));
        }

        ArgumentException.ThrowIfNullOrWhiteSpace(MunicipalityName, nameof(MunicipalityName));
        if (Kind == IssuerKind.Signing && !SubjectIds.IsIssuanceId(SubjectId))
        {
            throw new ArgumentException(
                $"a signing certificate's subject id is yyyyMMddHHmmss + 5-digit sequence + 9-character window id, got '{SubjectId}'",
                nameof(SubjectId));
        }

        if (Kind == IssuerKind.Authentication && !SubjectIds.IsAuthenticationId(SubjectId))
        {
            throw new ArgumentException($"an authentication certificate's subject id is 23 ASCII letters or digits, got '{SubjectId}'", nameof(SubjectId));
        }

        if (Kind == IssuerKind.Signing && Facts is null)
        {
            throw new ArgumentException("a signing certificate carries the four facts", nameof(Facts));
        }

        if (Kind == IssuerKind.Authentication && Facts is not null)
        {
            // The user-authentication certificate carries no personal data (docs/jpki-profile.md §5).
            throw new ArgumentException("an authentication certificate carries no personal data", nameof(Facts));
        }

        if (Facts is not null && !Facts.Address.StartsWith(Prefecture.KanjiName, StringComparison.Ordinal))
        {
            throw new ArgumentException($"the address must start with the prefecture {Prefecture.KanjiName}", nameof(Facts));
        }

        SubjectIds.EnsureHttpUrl(CrlBaseUrl, nameof(CrlBaseUrl));
        SubjectIds.EnsureHttpUrl(OcspBaseUrl, nameof(OcspBaseUrl));
        SubjectIds.EnsureHttpUrl(CpsUrl, nameof(CpsUrl));
    }
}

/// <summary>Shapes of the identifiers that go into end-entity certificates; shared by builder and lint.</summary>
public static class SubjectIds
{
    public const int IssuanceIdLength = 28;
    public const int AuthenticationIdLength = 23;

    /// <summary><c>yyyyMMddHHmmss</c> (a real JST time) + 5 digits + 9 ASCII letters or digits.</summary>
    public static bool IsIssuanceId(string? id) =>
        id is { Length: IssuanceIdLength }
        && DateTime.TryParseExact(id.AsSpan(0, 14), "yyyyMMddHHmmss", CultureInfo.InvariantCulture, DateTimeStyles.None, out _)
        && id.AsSpan(14, 5).IndexOfAnyExceptInRange('0', '9') < 0
        && id.AsSpan(19).ContainsOnlyAsciiLettersOrDigits();

    public static bool IsAuthenticationId(string? id) =>
        id is { Length: AuthenticationIdLength } && id.AsSpan().ContainsOnlyAsciiLettersOrDigits();

    public static bool IsMunicipalityCode(string? code) =>
        code is { Length: 6 } && code.AsSpan().IndexOfAnyExceptInRange('0', '9') < 0;

    /// <summary>An absolute ASCII http(s) URL: it goes into an IA5String and verifiers fetch it.</summary>
    public static void EnsureHttpUrl(string? url, string parameterName)
    {
        if (url is null || !url.All(char.IsAscii) || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"'{url}' is not an absolute ASCII http(s) URL", parameterName);
        }
    }

    private static bool ContainsOnlyAsciiLettersOrDigits(this ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiLetterOrDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
