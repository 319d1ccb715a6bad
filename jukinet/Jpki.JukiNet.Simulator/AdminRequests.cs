using System.Globalization;
using System.Text.Json;

namespace Jpki.JukiNet.Simulator;

/// <summary>
/// Body of <c>POST /api/v1/residents</c>. Every member is optional on the wire so that a missing
/// one gets a clear 400 rather than a deserializer message. Substitute flags default to all '0'.
/// </summary>
public sealed record CreateResidentRequest
{
    public string? Name { get; init; }

    public string? NameSubstitutes { get; init; }

    public string? DateOfBirth { get; init; }

    public int? Sex { get; init; }

    public string? Address { get; init; }

    public string? AddressSubstitutes { get; init; }

    public string? MunicipalityCode { get; init; }

    /// <summary>The record to register (its code is assigned by the store), or why the request is invalid.</summary>
    public (ResidentRecord? Template, string? Error) Check()
    {
        if (ResidentFacts.CheckName(Name, NameSubstitutes ?? (Name is null ? null : ResidentFacts.NoSubstitutes(Name))) is { } nameError)
        {
            return (null, nameError);
        }

        if (!BirthDate.TryParseIso(DateOfBirth, out var birth, out var birthError))
        {
            return (null, birthError);
        }

        if (Sex is not { } sex || !Enum.IsDefined((Sex)sex))
        {
            return (null, "sex must be 1, 2 or 3");
        }

        if (ChangeRules.CheckAddressInPrefecture(Address, AddressSubstitutes, MunicipalityCode) is { Error: { } addressError })
        {
            return (null, addressError);
        }

        return (new ResidentRecord
        {
            ResidentCode = ResidentCode.FromFirstTen("0000000000"),
            Name = Name!,
            NameSubstitutes = NameSubstitutes ?? ResidentFacts.NoSubstitutes(Name!),
            DateOfBirth = birth,
            Sex = (Sex)sex,
            Address = Address!,
            AddressSubstitutes = AddressSubstitutes ?? ResidentFacts.NoSubstitutes(Address!),
            MunicipalityCode = Jpki.JukiNet.MunicipalityCode.Parse(MunicipalityCode!),
            Status = ResidentStatus.Registered,
            Sequence = 0,
        }, null);
    }
}

/// <summary>
/// Body of <c>POST /api/v1/changes</c>: <c>{ residentCode, type, effectiveDate, ...new values }</c>.
/// <c>dateOfBirth</c> is <c>YYYY-MM-DD</c> (00 for unknown parts) as in resident creation; the
/// feed carries it as <c>EYYYYMMDD</c>. Substitute flags default to all '0'; an address change
/// or renumbering defaults to the resident's current municipality.
/// </summary>
public sealed record CreateChangeRequest
{
    public string? ResidentCode { get; init; }

    public string? Type { get; init; }

    public string? EffectiveDate { get; init; }

    public string? Name { get; init; }

    public string? NameSubstitutes { get; init; }

    public int? Sex { get; init; }

    public string? DateOfBirth { get; init; }

    public string? Address { get; init; }

    public string? AddressSubstitutes { get; init; }

    public string? MunicipalityCode { get; init; }

    public bool? ContinuedUse { get; init; }

    /// <summary>The checks that need no resident record: the code, the type, the dates.</summary>
    public (ResidentCode? Code, ChangeType Type, DateOnly EffectiveDate, BirthDate? DateOfBirth, string? Error) CheckShape()
    {
        if (!Jpki.JukiNet.ResidentCode.TryParse(ResidentCode, out var code, out var codeError))
        {
            return (null, default, default, null, codeError);
        }

        var type = Enum.GetValues<ChangeType>().Cast<ChangeType?>()
            .FirstOrDefault(t => JsonNamingPolicy.CamelCase.ConvertName(t!.Value.ToString()) == Type);
        if (type is null)
        {
            var known = string.Join(", ", Enum.GetValues<ChangeType>().Select(t => JsonNamingPolicy.CamelCase.ConvertName(t.ToString())));
            return (null, default, default, null, $"type must be one of {known}");
        }

        if (!DateOnly.TryParseExact(EffectiveDate, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var effective))
        {
            return (null, default, default, null, "effectiveDate must be YYYY-MM-DD");
        }

        BirthDate? birth = null;
        if (DateOfBirth is not null && !BirthDate.TryParseIso(DateOfBirth, out birth, out var birthError))
        {
            return (null, default, default, null, birthError);
        }

        return (code, type.Value, effective, birth, null);
    }
}
