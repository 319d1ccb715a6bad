using System.Text.Json;
using System.Text.Json.Serialization;

namespace Jpki.JukiNet;

/// <summary>The new values a change type carries.</summary>
[Flags]
public enum ChangeValues
{
    None = 0,

    /// <summary><c>name</c> and <c>nameSubstitutes</c>.</summary>
    Name = 1,
    Sex = 2,
    DateOfBirth = 4,

    /// <summary><c>address</c> and <c>addressSubstitutes</c>.</summary>
    Address = 8,
    MunicipalityCode = 16,
    ContinuedUse = 32,
}

/// <summary>
/// One event of the change feed (異動等失効情報). <see cref="Sequence"/> is global and strictly
/// increasing across all residents. Only the values that the <see cref="Type"/> carries are
/// present (see <see cref="Required"/> and <see cref="Allowed"/>); the rest are null and left out
/// of the JSON.
/// </summary>
public sealed record ChangeEvent
{
    public required long Sequence { get; init; }

    public required ResidentCode ResidentCode { get; init; }

    public required ChangeType Type { get; init; }

    /// <summary>The day the change took effect (JSON <c>YYYY-MM-DD</c>), a JST calendar date.</summary>
    public required DateOnly EffectiveDate { get; init; }

    public string? Name { get; init; }

    public string? NameSubstitutes { get; init; }

    public Sex? Sex { get; init; }

    /// <summary>JSON <c>EYYYYMMDD</c>, as in the resident record.</summary>
    public BirthDate? DateOfBirth { get; init; }

    public string? Address { get; init; }

    public string? AddressSubstitutes { get; init; }

    public MunicipalityCode? MunicipalityCode { get; init; }

    /// <summary>Emigration only: whether the resident keeps using the card abroad.</summary>
    public bool? ContinuedUse { get; init; }

    /// <summary>The values an event of <paramref name="type"/> must carry.</summary>
    public static ChangeValues Required(ChangeType type) => type switch
    {
        ChangeType.AddressChange or ChangeType.AddressRenumbering or ChangeType.MoveIn =>
            ChangeValues.Address | ChangeValues.MunicipalityCode,
        ChangeType.NameChange => ChangeValues.Name,
        ChangeType.SexChange => ChangeValues.Sex,
        ChangeType.BirthDateCorrection => ChangeValues.DateOfBirth,
        ChangeType.Emigration => ChangeValues.ContinuedUse,
        _ => ChangeValues.None,
    };

    /// <summary>
    /// The values an event of <paramref name="type"/> may carry: the required ones, plus the
    /// destination of a move out or emigration when the municipality knows it.
    /// </summary>
    public static ChangeValues Allowed(ChangeType type) => type switch
    {
        ChangeType.MoveOut => ChangeValues.Address | ChangeValues.MunicipalityCode,
        ChangeType.Emigration => ChangeValues.ContinuedUse | ChangeValues.Address,
        _ => Required(type),
    };

    /// <summary>The values this event carries.</summary>
    [JsonIgnore]
    public ChangeValues Present =>
        (Name is not null || NameSubstitutes is not null ? ChangeValues.Name : ChangeValues.None)
        | (Sex is not null ? ChangeValues.Sex : ChangeValues.None)
        | (DateOfBirth is not null ? ChangeValues.DateOfBirth : ChangeValues.None)
        | (Address is not null || AddressSubstitutes is not null ? ChangeValues.Address : ChangeValues.None)
        | (MunicipalityCode is not null ? ChangeValues.MunicipalityCode : ChangeValues.None)
        | (ContinuedUse is not null ? ChangeValues.ContinuedUse : ChangeValues.None);

    /// <summary>Null when the event is well formed for its type, else what is wrong.</summary>
    public string? Check()
    {
        if (Sequence <= 0)
        {
            return "sequence must be positive";
        }

        if (!Enum.IsDefined(Type))
        {
            return "type is unknown";
        }

        var present = Present;
        var missing = Required(Type) & ~present;
        if (missing != ChangeValues.None)
        {
            return $"a {WireName(Type)} event needs {Describe(missing)}";
        }

        var unexpected = present & ~Allowed(Type);
        if (unexpected != ChangeValues.None)
        {
            return $"a {WireName(Type)} event does not carry {Describe(unexpected)}";
        }

        if (Sex is { } sex && !Enum.IsDefined(sex))
        {
            return "sex must be 1, 2 or 3";
        }

        if (present.HasFlag(ChangeValues.Name) && ResidentFacts.CheckName(Name, NameSubstitutes) is { } nameError)
        {
            return nameError;
        }

        if (present.HasFlag(ChangeValues.Address) && ResidentFacts.CheckAddress(Address, AddressSubstitutes) is { } addressError)
        {
            return addressError;
        }

        return null;
    }

    /// <summary>The type as the JSON spells it, e.g. <c>addressChange</c>.</summary>
    public static string WireName(ChangeType type) => JsonNamingPolicy.CamelCase.ConvertName(type.ToString());

    /// <summary>The JSON members behind <paramref name="values"/>, e.g. <c>address, addressSubstitutes</c>.</summary>
    public static string Describe(ChangeValues values)
    {
        var members = new List<string>();
        foreach (var value in Enum.GetValues<ChangeValues>().Where(v => v != ChangeValues.None && values.HasFlag(v)))
        {
            var member = JsonNamingPolicy.CamelCase.ConvertName(value.ToString());
            members.Add(value is ChangeValues.Name or ChangeValues.Address ? $"{member} (and {member}Substitutes)" : member);
        }

        return string.Join(", ", members);
    }

    /// <summary>No personal data: the code redacted, type and sequence only.</summary>
    public override string ToString() => $"ChangeEvent {{ {Sequence}, {Type}, {ResidentCode.Redacted} }}";
}
