namespace Jpki.JukiNet;

/// <summary>
/// What a lookup answers (docs/design.md §5): the four facts with their substitute-character flags,
/// the municipality, the record's status and the resident's latest change sequence (0 when the
/// record has not changed since it was registered).
/// </summary>
public sealed record ResidentRecord
{
    public required ResidentCode ResidentCode { get; init; }

    /// <summary>Kanji with U+3000 between surname and given name, or Latin letters separated by ASCII spaces.</summary>
    public required string Name { get; init; }

    /// <summary>One digit per character of <see cref="Name"/>: '1' where a substitute character stands.</summary>
    public required string NameSubstitutes { get; init; }

    public required BirthDate DateOfBirth { get; init; }

    public required Sex Sex { get; init; }

    /// <summary>Starts with the prefecture; no postal code; full-width digits and hyphens allowed; ≤ 200 characters.</summary>
    public required string Address { get; init; }

    public required string AddressSubstitutes { get; init; }

    public required MunicipalityCode MunicipalityCode { get; init; }

    public required ResidentStatus Status { get; init; }

    public required long Sequence { get; init; }

    /// <summary>Null when the record is internally consistent, else what is wrong.</summary>
    public string? Check()
    {
        if (!Enum.IsDefined(Sex))
        {
            return "sex must be 1, 2 or 3";
        }

        if (!Enum.IsDefined(Status))
        {
            return "status is unknown";
        }

        if (Sequence < 0)
        {
            return "sequence must not be negative";
        }

        return ResidentFacts.CheckName(Name, NameSubstitutes) ?? ResidentFacts.CheckAddress(Address, AddressSubstitutes);
    }

    /// <summary>No personal data: the code redacted, the status and the sequence only.</summary>
    public override string ToString() => $"ResidentRecord {{ {ResidentCode.Redacted}, {Status}, sequence {Sequence} }}";
}
