using System.Text;

namespace Jpki.JukiNet;

/// <summary>
/// The rules for the text facts (docs/jpki-profile.md §4). Lengths count Unicode characters, not UTF-16
/// units, because the substitute flags have one digit per character and a name may hold a
/// character outside the BMP.
/// </summary>
public static class ResidentFacts
{
    public const int MaxNameCharacters = 100;
    public const int MaxAddressCharacters = 200;

    /// <summary>Separates surname and given name in a kanji name (U+3000 IDEOGRAPHIC SPACE).</summary>
    public const char KanjiNameSeparator = '\u3000';

    /// <summary>Separates the parts of a Latin-script name ([ours]: an ASCII space, as on the residence card).</summary>
    public const char LatinNameSeparator = ' ';

    public static int CharacterCount(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.EnumerateRunes().Count();
    }

    /// <summary>All-zero flags: every character as registered.</summary>
    public static string NoSubstitutes(string text) => new('0', CharacterCount(text));

    /// <summary>Null when the name and its flags are acceptable, else why not.</summary>
    public static string? CheckName(string? name, string? substitutes) =>
        CheckText("name", name, substitutes, MaxNameCharacters);

    /// <summary>Null when the address and its flags are acceptable, else why not.</summary>
    public static string? CheckAddress(string? address, string? substitutes) =>
        CheckText("address", address, substitutes, MaxAddressCharacters);

    private static string? CheckText(string field, string? text, string? substitutes, int maxCharacters)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return $"{field} is missing";
        }

        // Not normalised on purpose: NFC would turn CJK compatibility ideographs (variant kanji
        // that names rely on) into their unified forms, changing the registered name.
        if (text.EnumerateRunes().Any(r => Rune.IsControl(r)))
        {
            return $"{field} has control characters";
        }

        if (text.Trim() != text)
        {
            return $"{field} has leading or trailing spaces";
        }

        var count = CharacterCount(text);
        if (count > maxCharacters)
        {
            return $"{field} has more than {maxCharacters} characters";
        }

        if (substitutes is null)
        {
            return $"{field}Substitutes is missing";
        }

        if (substitutes.Length != count || substitutes.Any(c => c is not '0' and not '1'))
        {
            return $"{field}Substitutes must have one digit 0 or 1 per character of the {field} ({count})";
        }

        return null;
    }
}
