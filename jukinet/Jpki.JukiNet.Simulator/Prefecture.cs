using System.Collections.Immutable;

namespace Jpki.JukiNet.Simulator;

/// <summary>A municipality the simulated registry serves, with a few real town names for addresses.</summary>
public sealed record Municipality(MunicipalityCode Code, string Name, ImmutableArray<string> Towns);

/// <summary>The prefecture the simulator stands in for: 山口県 and nine of its cities (real local government codes).</summary>
public static class Prefecture
{
    public const string Name = "山口県";

    public static ImmutableArray<Municipality> Municipalities { get; } =
    [
        new(MunicipalityCode.Parse("352012"), "山口市", ["亀山町", "中央", "湯田温泉", "小郡下郷", "大内御堀", "宮野下"]),
        new(MunicipalityCode.Parse("352021"), "下関市", ["竹崎町", "唐戸町", "細江町", "長府松小田本町", "彦島江の浦町"]),
        new(MunicipalityCode.Parse("352039"), "宇部市", ["常盤町", "琴芝町", "新天町", "東岐波"]),
        new(MunicipalityCode.Parse("352047"), "萩市", ["江向", "椿東", "土原", "堀内"]),
        new(MunicipalityCode.Parse("352063"), "防府市", ["寿町", "天神", "八王子", "華城中央"]),
        new(MunicipalityCode.Parse("352071"), "下松市", ["大手町", "東豊井", "末武上"]),
        new(MunicipalityCode.Parse("352080"), "岩国市", ["今津町", "麻里布町", "南岩国町", "錦見"]),
        new(MunicipalityCode.Parse("352101"), "光市", ["中央", "島田", "浅江"]),
        new(MunicipalityCode.Parse("352152"), "周南市", ["岐山通", "徳山", "新宿通", "遠石"]),
    ];

    public static Municipality? Find(MunicipalityCode code) =>
        Municipalities.FirstOrDefault(m => m.Code == code);

    /// <summary>Addresses in the registry start with the prefecture and then the municipality's name.</summary>
    public static string AddressPrefix(Municipality municipality)
    {
        ArgumentNullException.ThrowIfNull(municipality);
        return Name + municipality.Name;
    }
}
