namespace Jpki.Core.Profiles;

/// <summary>
/// A prefecture (都道府県) acting as a certificate authority: the romanised name goes into the
/// issuer DN, the kanji name into the issuer's subjectAltName, the JIS X 0401 code identifies it.
/// </summary>
public sealed record Prefecture
{
    /// <exception cref="ArgumentException">A name is blank or the code is not 01–47.</exception>
    public Prefecture(string romanisedName, string kanjiName, string code)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(romanisedName);
        ArgumentException.ThrowIfNullOrWhiteSpace(kanjiName);
        ArgumentNullException.ThrowIfNull(code);
        if (code.Length != 2 || !char.IsAsciiDigit(code[0]) || !char.IsAsciiDigit(code[1])
            || int.Parse(code) is < 1 or > 47)
        {
            throw new ArgumentException($"prefecture code must be two digits 01–47, got '{code}'", nameof(code));
        }

        RomanisedName = romanisedName;
        KanjiName = kanjiName;
        Code = code;
    }

    /// <summary>For example <c>Yamaguchi-ken</c>.</summary>
    public string RomanisedName { get; }

    /// <summary>For example <c>山口県</c>.</summary>
    public string KanjiName { get; }

    /// <summary>JIS X 0401 code, two digits, for example <c>35</c>.</summary>
    public string Code { get; }

    public override string ToString() => $"{Code} {RomanisedName} ({KanjiName})";
}
