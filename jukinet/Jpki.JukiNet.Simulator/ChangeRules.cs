namespace Jpki.JukiNet.Simulator;

/// <summary>
/// How the simulated registry turns an admin change request into a feed event and a new record.
/// The status rules: moveOut → movedOut; moveIn → registered; death → deceased; deletion →
/// deleted; emigration → movedOut, or registered when the resident keeps using the card abroad
/// (continuedUse); everything else keeps the status. A deceased or deleted record takes no further
/// change (409). Every applied change sets the record's sequence to the event's.
/// </summary>
public static class ChangeRules
{
    public static ChangeDecision Decide(CreateChangeRequest request, ResidentCode code, ChangeType type, DateOnly effectiveDate, BirthDate? dateOfBirth, ResidentRecord current)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(current);
        if (current.Status is ResidentStatus.Deceased or ResidentStatus.Deleted)
        {
            return ChangeDecision.Conflicting($"the record is {System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(current.Status.ToString())}: it takes no further change");
        }

        var keepsMunicipality = type is ChangeType.AddressChange or ChangeType.AddressRenumbering;
        MunicipalityCode? municipality = null;
        if (request.MunicipalityCode is not null && !MunicipalityCode.TryParse(request.MunicipalityCode, out municipality, out var municipalityError))
        {
            return ChangeDecision.Invalid(municipalityError);
        }

        if (keepsMunicipality)
        {
            if (municipality is not null && municipality != current.MunicipalityCode)
            {
                return ChangeDecision.Invalid($"an {ChangeEvent.WireName(type)} stays in the municipality {current.MunicipalityCode}; a move is moveOut + moveIn");
            }

            municipality = current.MunicipalityCode;
        }

        var change = new ChangeEvent
        {
            Sequence = 1, // the store assigns the real one
            ResidentCode = code,
            Type = type,
            EffectiveDate = effectiveDate,
            Name = request.Name,
            NameSubstitutes = request.NameSubstitutes ?? (request.Name is null ? null : ResidentFacts.NoSubstitutes(request.Name)),
            Sex = (Sex?)request.Sex,
            DateOfBirth = dateOfBirth,
            Address = request.Address,
            AddressSubstitutes = request.AddressSubstitutes ?? (request.Address is null ? null : ResidentFacts.NoSubstitutes(request.Address)),
            MunicipalityCode = municipality,
            ContinuedUse = request.ContinuedUse,
        };
        if (change.Check() is { } error)
        {
            return ChangeDecision.Invalid(error);
        }

        if (keepsMunicipality || type == ChangeType.MoveIn)
        {
            if (CheckAddressInPrefecture(change.Address, change.AddressSubstitutes, change.MunicipalityCode!.Value) is { Error: { } addressError })
            {
                return ChangeDecision.Invalid(addressError);
            }
        }

        return ChangeDecision.Apply(change, NewRecord(current, change));
    }

    /// <summary>The record after <paramref name="change"/> (the store then sets the sequence).</summary>
    public static ResidentRecord NewRecord(ResidentRecord current, ChangeEvent change)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(change);
        return change.Type switch
        {
            ChangeType.AddressChange or ChangeType.AddressRenumbering => current with
            {
                Address = change.Address!,
                AddressSubstitutes = change.AddressSubstitutes!,
                MunicipalityCode = change.MunicipalityCode!,
            },
            ChangeType.MoveIn => current with
            {
                Address = change.Address!,
                AddressSubstitutes = change.AddressSubstitutes!,
                MunicipalityCode = change.MunicipalityCode!,
                Status = ResidentStatus.Registered,
            },
            // The record keeps its last address in the prefecture; a destination is in the event only.
            ChangeType.MoveOut => current with { Status = ResidentStatus.MovedOut },
            ChangeType.NameChange => current with { Name = change.Name!, NameSubstitutes = change.NameSubstitutes! },
            ChangeType.SexChange => current with { Sex = change.Sex!.Value },
            ChangeType.BirthDateCorrection => current with { DateOfBirth = change.DateOfBirth! },
            ChangeType.Death => current with { Status = ResidentStatus.Deceased },
            ChangeType.Deletion => current with { Status = ResidentStatus.Deleted },
            ChangeType.Emigration => current with
            {
                Status = change.ContinuedUse == true ? ResidentStatus.Registered : ResidentStatus.MovedOut,
            },
            _ => current, // correction: a field outside the four facts; only the sequence moves
        };
    }

    /// <summary>An address of the simulated prefecture: a known municipality, and the text starting with 山口県 + its name.</summary>
    public static (Municipality? Municipality, string? Error) CheckAddressInPrefecture(string? address, string? substitutes, string? municipalityCode)
    {
        if (!MunicipalityCode.TryParse(municipalityCode, out var code, out var codeError))
        {
            return (null, codeError);
        }

        return CheckAddressInPrefecture(address, substitutes, code);
    }

    private static (Municipality? Municipality, string? Error) CheckAddressInPrefecture(string? address, string? substitutes, MunicipalityCode code)
    {
        var municipality = Prefecture.Find(code);
        if (municipality is null)
        {
            return (null, $"municipality {code} is not one of {Prefecture.Name}'s in this simulator");
        }

        if (ResidentFacts.CheckAddress(address, substitutes ?? (address is null ? null : ResidentFacts.NoSubstitutes(address))) is { } error)
        {
            return (null, error);
        }

        if (!address!.StartsWith(Prefecture.AddressPrefix(municipality), StringComparison.Ordinal))
        {
            return (null, $"address must start with {Prefecture.AddressPrefix(municipality)}");
        }

        return (municipality, null);
    }
}
