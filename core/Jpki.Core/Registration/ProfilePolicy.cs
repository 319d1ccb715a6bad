using Jpki.Core.Configuration;
using Jpki.Core.Profiles;

namespace Jpki.Core.Registration;

/// <summary>
/// The issuer and profile of a new certificate: the issuer of the resident's prefecture for the
/// kind (<c>yamaguchi-ken-signing</c>), the municipality's romanised name for the subject, and
/// what the kind's profile carries.
/// </summary>
/// <param name="IssuerId">The issuer whose active key signs it.</param>
/// <param name="Prefecture">The resident's prefecture, one this CA issues for.</param>
/// <param name="MunicipalityCode">The resident's municipality (6 digits).</param>
/// <param name="MunicipalityName">Its romanised name, in the subject.</param>
/// <param name="Kind">Signing or user authentication.</param>
public sealed record ProfileChoice(string IssuerId, PrefectureSettings Prefecture, string MunicipalityCode, string MunicipalityName, IssuerKind Kind)
{
    /// <summary>Only a signing certificate carries the four facts (name, date of birth, sex, address).</summary>
    public bool CarriesResidentFacts => Kind == IssuerKind.Signing;

    /// <summary>A signing certificate ends no later than the holder's authentication certificate.</summary>
    public bool CappedByAuthenticationCertificate => Kind == IssuerKind.Signing;
}

/// <summary>Chooses the <see cref="ProfileChoice"/> of a request, or refuses a municipality this CA does not issue for.</summary>
public static class ProfilePolicy
{
    /// <summary>The kind as the API and the store name it.</summary>
    public static string KindName(IssuerKind kind) => kind == IssuerKind.Signing ? "signing" : "authentication";

    /// <summary>The issuer id of a prefecture and kind: <c>{prefecture slug}-{kind}</c>.</summary>
    public static string IssuerId(PrefectureSettings prefecture, IssuerKind kind)
    {
        ArgumentNullException.ThrowIfNull(prefecture);
        return $"{prefecture.Slug}-{KindName(kind)}";
    }

    /// <summary>The choice for a resident of <paramref name="municipalityCode"/>, or the refusal.</summary>
    public static (ProfileChoice? Choice, IssuanceRefused? Refused) Choose(string municipalityCode, IssuerKind kind, IReadOnlyList<PrefectureSettings> prefectures)
    {
        ArgumentNullException.ThrowIfNull(municipalityCode);
        ArgumentNullException.ThrowIfNull(prefectures);
        var municipalityName = Municipalities.RomanisedName(municipalityCode);
        var prefecture = municipalityCode.Length >= 2 ? prefectures.FirstOrDefault(p => p.Code == municipalityCode[..2]) : null;
        if (municipalityName is null || prefecture is null)
        {
            return (null, new IssuanceRefused(IssuanceRefusal.UnknownMunicipality, $"this CA does not issue for municipality {municipalityCode}"));
        }

        return (new ProfileChoice(IssuerId(prefecture, kind), prefecture, municipalityCode, municipalityName, kind), null);
    }
}
