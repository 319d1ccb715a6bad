using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace Jpki.JukiNet.Simulator;

/// <summary>
/// Makes a deterministic synthetic population: the same seed and count give the same residents,
/// byte for byte (System.Random with a seed is a fixed algorithm). Most residents are ordinary;
/// the first few each carry one of the rarer traits so that even a small population holds every
/// case the CA must handle — every era, era unknown, unknown month or day, a Latin-script name, a
/// name and an address with substitute characters, sex 3.
/// </summary>
public sealed class PopulationGenerator(int seed)
{
    /// <summary>Range of generated births: old enough for 明治, young enough for 令和.</summary>
    private static readonly DateOnly OldestBirth = new(1905, 1, 1);
    private static readonly DateOnly YoungestBirth = new(2025, 12, 31);

    private static readonly ImmutableArray<string> Surnames =
    [
        "山田", "佐藤", "鈴木", "田中", "伊藤", "渡辺", "中村", "小林", "加藤", "山本", "松本", "井上",
        "木村", "林", "斎藤", "清水", "山口", "森", "池田", "橋本", "阿部", "石川", "藤田", "岡田",
        "原田", "河野", "福田", "末永", "弘中", "藤井", "村上", "三浦",
    ];

    /// <summary>
    /// Surnames registered with a character outside JIS X 0208/0212 (髙, 﨑, 𠮷). The record carries
    /// the JIS X 0208 stand-in and flags its position with '1' (docs/jpki-profile.md §4).
    /// </summary>
    private static readonly ImmutableArray<(string Surname, string Flags)> SubstitutedSurnames =
    [
        ("高橋", "10"), ("崎山", "10"), ("吉田", "10"), ("山崎", "01"), ("宮崎", "01"), ("吉村", "10"),
    ];

    private static readonly ImmutableArray<string> MaleGivenNames =
        ["太郎", "一郎", "健一", "大輔", "翔太", "蓮", "悠真", "浩", "誠", "博之", "隆", "大翔"];

    private static readonly ImmutableArray<string> FemaleGivenNames =
        ["花子", "美咲", "陽菜", "結衣", "裕子", "恵子", "直美", "葵", "さくら", "幸子", "凛", "ゆい"];

    private static readonly ImmutableArray<string> LatinSurnames =
        ["SMITH", "GARCIA", "NGUYEN", "KIM", "SILVA", "SANTOS", "JOHNSON", "LEE", "MULLER", "WANG"];

    private static readonly ImmutableArray<string> LatinGivenNames =
        ["JOHN", "MARIA", "VAN ANH", "MIN JUN", "ANA", "DAVID", "LI NA", "CARLOS", "EMMA", "THI HOA"];

    private static readonly ImmutableArray<string> Buildings = ["コーポ中央", "サンハイツ", "グランメゾン", "第２松風荘"];

    /// <summary>The rare traits given, one each, to the first residents.</summary>
    private enum Trait
    {
        None,
        Meiji,
        Taisho,
        Showa,
        Heisei,
        Reiwa,
        EraUnknown,
        MonthUnknown,
        DayUnknown,
        LatinName,
        SubstitutedName,
        SubstitutedAddress,
        SexUnknown,
    }

    private static readonly ImmutableArray<Trait> GuaranteedTraits =
    [
        Trait.Meiji, Trait.Taisho, Trait.Showa, Trait.Heisei, Trait.Reiwa, Trait.EraUnknown, Trait.MonthUnknown,
        Trait.DayUnknown, Trait.LatinName, Trait.SubstitutedName, Trait.SubstitutedAddress, Trait.SexUnknown,
    ];

    public IReadOnlyList<ResidentRecord> Generate(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var random = new Random(seed);
        var codes = new HashSet<string>(StringComparer.Ordinal);
        var residents = new List<ResidentRecord>(count);
        for (var i = 0; i < count; i++)
        {
            var trait = i < GuaranteedTraits.Length ? GuaranteedTraits[i] : Trait.None;
            residents.Add(MakeResident(random, codes, trait));
        }

        return residents;
    }

    /// <summary>A name of the kind the population holds, for the change generator's name changes.</summary>
    internal static (string Name, string Flags) RandomName(Random random, Sex sex) => MakeName(random, sex, Trait.None);

    /// <summary>A date of birth of the kind the population holds, for birth-date corrections.</summary>
    internal static BirthDate RandomBirthDate(Random random) => MakeBirthDate(random, Trait.None);

    /// <summary>An address in <paramref name="municipality"/> of the kind the population holds, for moves.</summary>
    internal static (string Address, string Flags) RandomAddress(Random random, Municipality municipality) =>
        MakeAddress(random, municipality, Trait.None);

    private static ResidentRecord MakeResident(Random random, HashSet<string> codes, Trait trait)
    {
        ResidentCode code;
        do
        {
            code = ResidentCode.FromFirstTen(random.NextInt64(0, 10_000_000_000).ToString("D10", CultureInfo.InvariantCulture));
        }
        while (!codes.Add(code.Digits));

        var sex = trait == Trait.SexUnknown ? Sex.Unknown
            : random.Next(200) == 0 ? Sex.Unknown
            : random.Next(2) == 0 ? Sex.Male : Sex.Female;
        var (name, nameFlags) = MakeName(random, sex, trait);
        var birth = MakeBirthDate(random, trait);
        var municipality = Prefecture.Municipalities[random.Next(Prefecture.Municipalities.Length)];
        var (address, addressFlags) = MakeAddress(random, municipality, trait);
        return new ResidentRecord
        {
            ResidentCode = code,
            Name = name,
            NameSubstitutes = nameFlags,
            DateOfBirth = birth,
            Sex = sex,
            Address = address,
            AddressSubstitutes = addressFlags,
            MunicipalityCode = municipality.Code,
            Status = ResidentStatus.Registered,
            Sequence = 0,
        };
    }

    private static (string Name, string Flags) MakeName(Random random, Sex sex, Trait trait)
    {
        var roll = random.Next(100);
        if (trait == Trait.LatinName || (trait == Trait.None && roll < 3))
        {
            // [ours] Latin names as on the residence card: upper case, surname first, ASCII spaces.
            var latin = Pick(random, LatinSurnames) + ResidentFacts.LatinNameSeparator + Pick(random, LatinGivenNames);
            return (latin, ResidentFacts.NoSubstitutes(latin));
        }

        var given = sex switch
        {
            Sex.Male => Pick(random, MaleGivenNames),
            Sex.Female => Pick(random, FemaleGivenNames),
            _ => random.Next(2) == 0 ? Pick(random, MaleGivenNames) : Pick(random, FemaleGivenNames),
        };
        var givenFlags = ResidentFacts.NoSubstitutes(given);
        if (trait == Trait.SubstitutedName || (trait == Trait.None && roll < 7))
        {
            var (surname, flags) = Pick(random, SubstitutedSurnames);
            return (surname + ResidentFacts.KanjiNameSeparator + given, flags + "0" + givenFlags);
        }

        var plain = Pick(random, Surnames) + ResidentFacts.KanjiNameSeparator + given;
        return (plain, ResidentFacts.NoSubstitutes(plain));
    }

    private static BirthDate MakeBirthDate(Random random, Trait trait)
    {
        var (from, to) = trait switch
        {
            Trait.Meiji => (OldestBirth, new DateOnly(1912, 7, 29)),
            Trait.Taisho => (new DateOnly(1912, 7, 30), new DateOnly(1926, 12, 24)),
            Trait.Showa => (new DateOnly(1926, 12, 25), new DateOnly(1989, 1, 7)),
            Trait.Heisei => (new DateOnly(1989, 1, 8), new DateOnly(2019, 4, 30)),
            Trait.Reiwa => (new DateOnly(2019, 5, 1), YoungestBirth),
            _ => (OldestBirth, YoungestBirth),
        };
        var day = from.AddDays(random.Next(to.DayNumber - from.DayNumber + 1));
        var roll = random.Next(100);
        int? month = day.Month;
        int? dayOfMonth = day.Day;
        if (trait == Trait.EraUnknown)
        {
            // An unknown month in a year two eras share leaves the era unknown too.
            int[] boundaryYears = [1912, 1926, 1989, 2019];
            return Create(boundaryYears[random.Next(boundaryYears.Length)], null, null);
        }

        if (trait == Trait.MonthUnknown || (trait == Trait.None && roll < 2))
        {
            (month, dayOfMonth) = (null, null);
        }
        else if (trait == Trait.DayUnknown || (trait == Trait.None && roll < 4))
        {
            dayOfMonth = null;
        }

        return Create(day.Year, month, dayOfMonth);
    }

    private static BirthDate Create(int year, int? month, int? day) =>
        BirthDate.TryCreate(year, month, day, out var date, out var error)
            ? date
            : throw new InvalidOperationException($"generated an invalid date of birth: {error}");

    private static (string Address, string Flags) MakeAddress(Random random, Municipality municipality, Trait trait)
    {
        var town = Pick(random, municipality.Towns);
        var address = new StringBuilder(Prefecture.AddressPrefix(municipality)).Append(town);
        switch (random.Next(4))
        {
            case 0:
                address.Append(KanjiNumber(random.Next(1, 6))).Append("丁目")
                    .Append(FullWidth(random.Next(1, 30))).Append('－').Append(FullWidth(random.Next(1, 40)));
                break;
            case 1:
                address.Append(FullWidth(random.Next(1, 3000))).Append("番地");
                break;
            default:
                address.Append(FullWidth(random.Next(1, 200))).Append('－').Append(FullWidth(random.Next(1, 60)));
                break;
        }

        if (random.Next(10) == 0)
        {
            address.Append('\u3000').Append(Pick(random, Buildings)).Append(FullWidth(random.Next(1, 6) * 100 + random.Next(1, 10))).Append('号');
        }

        var text = address.ToString();
        var flags = ResidentFacts.NoSubstitutes(text).ToCharArray();
        if (trait == Trait.SubstitutedAddress || (trait == Trait.None && random.Next(50) == 0))
        {
            // A character of the town name was registered outside JIS X 0208/0212.
            var townStart = ResidentFacts.CharacterCount(Prefecture.AddressPrefix(municipality));
            flags[townStart + random.Next(ResidentFacts.CharacterCount(town))] = '1';
        }

        return (text, new string(flags));
    }

    private static T Pick<T>(Random random, ImmutableArray<T> items) => items[random.Next(items.Length)];

    /// <summary>Full-width digits (０–９), as house numbers are written in the registry.</summary>
    private static string FullWidth(int number) =>
        string.Concat(number.ToString(CultureInfo.InvariantCulture).Select(c => (char)('０' + (c - '0'))));

    private static string KanjiNumber(int number) => "〇一二三四五六七八九"[number].ToString();
}
