namespace Jpki.Core.Profiles;

/// <summary>
/// Romanised names of the municipalities the CA issues for, by 6-digit local government code:
/// they go into the subject's L and the CRL partition's CN. Today the demo prefecture (山口県);
/// another prefecture adds its rows here.
/// </summary>
public static class Municipalities
{
    private static readonly Dictionary<string, string> RomanisedNames = new(StringComparer.Ordinal)
    {
        ["352012"] = "Yamaguchi-shi",
        ["352021"] = "Shimonoseki-shi",
        ["352039"] = "Ube-shi",
        ["352047"] = "Hagi-shi",
        ["352063"] = "Hofu-shi",
        ["352071"] = "Kudamatsu-shi",
        ["352080"] = "Iwakuni-shi",
        ["352101"] = "Hikari-shi",
        ["352152"] = "Shunan-shi",
    };

    // The names as residents and the registry write them, for pages in Japanese; certificates
    // carry the romanised ones (PrintableString).
    private static readonly Dictionary<string, string> JapaneseNames = new(StringComparer.Ordinal)
    {
        ["352012"] = "山口市",
        ["352021"] = "下関市",
        ["352039"] = "宇部市",
        ["352047"] = "萩市",
        ["352063"] = "防府市",
        ["352071"] = "下松市",
        ["352080"] = "岩国市",
        ["352101"] = "光市",
        ["352152"] = "周南市",
    };

    /// <summary>Every code the table knows, in code order.</summary>
    public static IReadOnlyList<string> Codes { get; } = [.. RomanisedNames.Keys.Order(StringComparer.Ordinal)];

    /// <summary>The romanised name, or null for a municipality the CA does not know.</summary>
    public static string? RomanisedName(string code) =>
        RomanisedNames.TryGetValue(code, out var name) ? name : null;

    /// <summary>The name in kanji (山口市), or null for a municipality the CA does not know.</summary>
    public static string? JapaneseName(string code) =>
        JapaneseNames.TryGetValue(code, out var name) ? name : null;
}
