namespace Jpki.Core.Profiles;

/// <summary>
/// The 47 prefectures (都道府県) by JIS X 0401 code, romanised as the issuer DN carries them
/// (<c>Yamaguchi-ken</c>, <c>Tokyo-to</c>, <c>Osaka-fu</c>, <c>Hokkaido</c>) and in kanji. The one
/// place the list lives: <c>hsm init --prefectures</c> configures issuers from it, and the scale
/// benchmark sets up a national install (94 issuers) with it.
/// </summary>
public static class Prefectures
{
    public static IReadOnlyList<Prefecture> All { get; } =
    [
        new("Hokkaido", "北海道", "01"),
        new("Aomori-ken", "青森県", "02"),
        new("Iwate-ken", "岩手県", "03"),
        new("Miyagi-ken", "宮城県", "04"),
        new("Akita-ken", "秋田県", "05"),
        new("Yamagata-ken", "山形県", "06"),
        new("Fukushima-ken", "福島県", "07"),
        new("Ibaraki-ken", "茨城県", "08"),
        new("Tochigi-ken", "栃木県", "09"),
        new("Gunma-ken", "群馬県", "10"),
        new("Saitama-ken", "埼玉県", "11"),
        new("Chiba-ken", "千葉県", "12"),
        new("Tokyo-to", "東京都", "13"),
        new("Kanagawa-ken", "神奈川県", "14"),
        new("Niigata-ken", "新潟県", "15"),
        new("Toyama-ken", "富山県", "16"),
        new("Ishikawa-ken", "石川県", "17"),
        new("Fukui-ken", "福井県", "18"),
        new("Yamanashi-ken", "山梨県", "19"),
        new("Nagano-ken", "長野県", "20"),
        new("Gifu-ken", "岐阜県", "21"),
        new("Shizuoka-ken", "静岡県", "22"),
        new("Aichi-ken", "愛知県", "23"),
        new("Mie-ken", "三重県", "24"),
        new("Shiga-ken", "滋賀県", "25"),
        new("Kyoto-fu", "京都府", "26"),
        new("Osaka-fu", "大阪府", "27"),
        new("Hyogo-ken", "兵庫県", "28"),
        new("Nara-ken", "奈良県", "29"),
        new("Wakayama-ken", "和歌山県", "30"),
        new("Tottori-ken", "鳥取県", "31"),
        new("Shimane-ken", "島根県", "32"),
        new("Okayama-ken", "岡山県", "33"),
        new("Hiroshima-ken", "広島県", "34"),
        new("Yamaguchi-ken", "山口県", "35"),
        new("Tokushima-ken", "徳島県", "36"),
        new("Kagawa-ken", "香川県", "37"),
        new("Ehime-ken", "愛媛県", "38"),
        new("Kochi-ken", "高知県", "39"),
        new("Fukuoka-ken", "福岡県", "40"),
        new("Saga-ken", "佐賀県", "41"),
        new("Nagasaki-ken", "長崎県", "42"),
        new("Kumamoto-ken", "熊本県", "43"),
        new("Oita-ken", "大分県", "44"),
        new("Miyazaki-ken", "宮崎県", "45"),
        new("Kagoshima-ken", "鹿児島県", "46"),
        new("Okinawa-ken", "沖縄県", "47"),
    ];

    /// <summary>The prefecture of a 2-digit code, or null.</summary>
    public static Prefecture? Find(string code) => All.FirstOrDefault(p => p.Code == code);

    /// <summary>
    /// <c>all</c>, or comma-separated 2-digit codes (<c>13,27,35</c>; a 1-digit code gets its
    /// leading zero), in code order without repeats.
    /// </summary>
    /// <exception cref="ArgumentException">Empty, or a code that is not 01–47.</exception>
    public static IReadOnlyList<Prefecture> Select(string selection)
    {
        ArgumentNullException.ThrowIfNull(selection);
        if (selection.Trim().Equals("all", StringComparison.OrdinalIgnoreCase))
        {
            return All;
        }

        var chosen = new SortedDictionary<string, Prefecture>(StringComparer.Ordinal);
        foreach (var part in selection.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var code = part.Length == 1 ? "0" + part : part;
            chosen[code] = Find(code) ?? throw new ArgumentException($"'{part}' is not a prefecture code (01–47, or all)", nameof(selection));
        }

        return chosen.Count > 0 ? [.. chosen.Values] : throw new ArgumentException("no prefecture given (codes 01–47, comma-separated, or all)", nameof(selection));
    }
}
