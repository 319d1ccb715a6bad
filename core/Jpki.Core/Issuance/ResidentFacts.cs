using System.Text;

namespace Jpki.Core.Issuance;

/// <summary>The sex code of the certificate (docs/jpki-profile.md §4, OID …5.5.3).</summary>
public enum ResidentSex
{
    Male = 1,
    Female = 2,
    Unknown = 3,
}

/// <summary>
/// The four facts (基本4情報) a signing certificate carries in its subjectAltName, with the
/// substitute-character position strings (docs/jpki-profile.md §4). Lengths are counted in Unicode
/// scalar values, not UTF-16 units: substitute characters lie outside JIS X 0208/0212 and are
/// often outside the BMP, yet each is one character of the name with one flag digit.
/// </summary>
public sealed record ResidentFacts
{
    public const int MaxAddressLength = 200;

    /// <exception cref="ArgumentException">A fact is empty, too long, has control characters, or a flag string does not fit its text.</exception>
    public ResidentFacts(
        string name,
        string nameSubstitutes,
        ResidentSex sex,
        JpkiBirthDate dateOfBirth,
        string address,
        string addressSubstitutes)
    {
        EnsureText(name, nameof(name));
        EnsureText(address, nameof(address));
        ArgumentNullException.ThrowIfNull(dateOfBirth);
        if (!Enum.IsDefined(sex))
        {
            throw new ArgumentException($"sex must be 1 (male), 2 (female) or 3 (unknown), got {(int)sex}", nameof(sex));
        }

        if (CharacterCount(address) > MaxAddressLength)
        {
            throw new ArgumentException($"address has {CharacterCount(address)} characters, more than {MaxAddressLength}", nameof(address));
        }

        EnsureSubstitutes(nameSubstitutes, name, nameof(nameSubstitutes));
        EnsureSubstitutes(addressSubstitutes, address, nameof(addressSubstitutes));

        Name = name;
        NameSubstitutes = nameSubstitutes;
        Sex = sex;
        DateOfBirth = dateOfBirth;
        Address = address;
        AddressSubstitutes = addressSubstitutes;
    }

    /// <summary>氏名: kanji with U+3000 between surname and given name, or Latin script for some foreign residents.</summary>
    public string Name { get; }

    /// <summary>One '0' (as registered) or '1' (substitute character used) per character of <see cref="Name"/>.</summary>
    public string NameSubstitutes { get; }

    public ResidentSex Sex { get; }

    public JpkiBirthDate DateOfBirth { get; }

    /// <summary>住所: starts with the prefecture, no postal code, at most 200 characters.</summary>
    public string Address { get; }

    /// <summary>One '0' or '1' per character of <see cref="Address"/>.</summary>
    public string AddressSubstitutes { get; }

    /// <summary>The certificate's sex value: the ASCII digit 1, 2 or 3.</summary>
    public string SexCode => ((int)Sex).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The six subjectAltName otherName values by OID (docs/jpki-profile.md §4): what the builder
    /// writes and what the pre-issuance lint expects to read back, from one place.
    /// </summary>
    public IReadOnlyDictionary<string, string> OtherNameValues() => new Dictionary<string, string>
    {
        [JpkiOids.Name] = Name,
        [JpkiOids.NameSubstitutes] = NameSubstitutes,
        [JpkiOids.Sex] = SexCode,
        [JpkiOids.DateOfBirth] = DateOfBirth.ToString(),
        [JpkiOids.Address] = Address,
        [JpkiOids.AddressSubstitutes] = AddressSubstitutes,
    };

    /// <summary>Characters as JPKI counts them: Unicode scalar values.</summary>
    public static int CharacterCount(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.EnumerateRunes().Count();
    }

    /// <summary>Whether <paramref name="flags"/> is one '0'/'1' per character of <paramref name="text"/>.</summary>
    public static bool IsSubstituteString(string flags, string text) =>
        flags.Length == CharacterCount(text) && flags.All(c => c is '0' or '1');

    private static void EnsureText(string value, string parameterName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(value, parameterName);
        // EnumerateRunes yields U+FFFD for an unpaired surrogate, so one check covers both.
        foreach (var rune in value.EnumerateRunes())
        {
            if (Rune.IsControl(rune) || rune == Rune.ReplacementChar)
            {
                throw new ArgumentException($"text has a control or replacement character U+{rune.Value:X4}", parameterName);
            }
        }
    }

    private static void EnsureSubstitutes(string flags, string text, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(flags, parameterName);
        if (!IsSubstituteString(flags, text))
        {
            throw new ArgumentException(
                $"substitute flags must be one '0' or '1' per character: {CharacterCount(text)} expected, got '{flags}'",
                parameterName);
        }
    }
}
