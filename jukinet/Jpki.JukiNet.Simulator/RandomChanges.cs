using System.Collections.Immutable;
using System.Globalization;

namespace Jpki.JukiNet.Simulator;

/// <summary>A change drawn for one resident, in the form <see cref="ChangeRules.Decide"/> takes.</summary>
public sealed record DrawnChange(CreateChangeRequest Request, ChangeType Type, DateOnly EffectiveDate, BirthDate? DateOfBirth);

/// <summary>
/// Draws a plausible change for a resident's current record: every change type, weighted so
/// that deaths and deletions stay rare enough for a population to last. A registered resident
/// may get any change but a move in; a moved-out one may move back in, die or be deleted
/// (ChangeRules lets a moved-out record take anything, but the others make little sense for it).
/// Deceased and deleted records take no change and are never passed here.
/// </summary>
public static class RandomChanges
{
    private static readonly ImmutableArray<(ChangeType Type, int Weight)> ForRegistered =
    [
        (ChangeType.AddressChange, 20), (ChangeType.AddressRenumbering, 8), (ChangeType.MoveOut, 14),
        (ChangeType.NameChange, 10), (ChangeType.SexChange, 3), (ChangeType.BirthDateCorrection, 4),
        (ChangeType.Correction, 15), (ChangeType.Death, 4), (ChangeType.Deletion, 2), (ChangeType.Emigration, 8),
    ];

    private static readonly ImmutableArray<(ChangeType Type, int Weight)> ForMovedOut =
    [
        (ChangeType.MoveIn, 80), (ChangeType.Death, 10), (ChangeType.Deletion, 10),
    ];

    /// <summary>Destinations outside the prefecture for a move out (real local government codes).</summary>
    private static readonly ImmutableArray<(string Address, string MunicipalityCode)> OutsideDestinations =
    [
        ("東京都千代田区永田町１－７－１", "131016"),
        ("福岡県福岡市中央区天神１－８－１", "401331"),
        ("広島県広島市中区基町１０－５２", "341011"),
        ("大阪府大阪市中央区大手前２－１－２２", "271284"),
    ];

    private static readonly ImmutableArray<string> AbroadAddresses =
        ["ALEXANDERPLATZ 1, BERLIN", "1600 PENNSYLVANIA AVE NW, WASHINGTON DC", "12 RUE DE RIVOLI, PARIS"];

    /// <summary>Effective dates fall in the last two weeks, JST.</summary>
    private const int MaxDaysBack = 14;

    public static DrawnChange Draw(ResidentRecord current, Random random, DateOnly today)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(random);
        if (current.Status is not (ResidentStatus.Registered or ResidentStatus.MovedOut))
        {
            throw new ArgumentException("a deceased or deleted record takes no change", nameof(current));
        }

        var type = Pick(random, current.Status == ResidentStatus.Registered ? ForRegistered : ForMovedOut);
        var effective = today.AddDays(-random.Next(MaxDaysBack + 1));
        var request = new CreateChangeRequest { ResidentCode = current.ResidentCode.Digits, Type = ChangeEvent.WireName(type) };
        BirthDate? dateOfBirth = null;
        var home = Prefecture.Find(current.MunicipalityCode);
        switch (type)
        {
            case ChangeType.AddressChange or ChangeType.AddressRenumbering when home is not null:
                var (address, flags) = PopulationGenerator.RandomAddress(random, home);
                request = request with { Address = address, AddressSubstitutes = flags };
                break;
            case ChangeType.AddressChange or ChangeType.AddressRenumbering:
                // Only a record outside the simulated prefecture, which the simulator never makes.
                type = ChangeType.Correction;
                request = request with { Type = ChangeEvent.WireName(type) };
                break;
            case ChangeType.MoveOut:
                request = MoveOut(request, random, current);
                break;
            case ChangeType.MoveIn:
                request = MoveWithinPrefecture(request, random, except: null);
                break;
            case ChangeType.NameChange:
                request = NewName(request, random, current);
                break;
            case ChangeType.SexChange:
                Sex[] others = [.. Enum.GetValues<Sex>().Where(s => s != current.Sex)];
                request = request with { Sex = (int)others[random.Next(others.Length)] };
                break;
            case ChangeType.BirthDateCorrection:
                dateOfBirth = PopulationGenerator.RandomBirthDate(random);
                request = request with { DateOfBirth = dateOfBirth.ToIso() };
                break;
            case ChangeType.Emigration:
                var continuedUse = random.Next(2) == 0;
                request = request with
                {
                    ContinuedUse = continuedUse,
                    Address = continuedUse && random.Next(2) == 0 ? AbroadAddresses[random.Next(AbroadAddresses.Length)] : null,
                };
                break;
            default:
                // correction, death, deletion: no new values.
                break;
        }

        request = request with { EffectiveDate = effective.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) };
        return new DrawnChange(request, type, effective, dateOfBirth);
    }

    /// <summary>A third each: destination not known yet, elsewhere in the prefecture, another prefecture.</summary>
    private static CreateChangeRequest MoveOut(CreateChangeRequest request, Random random, ResidentRecord current)
    {
        switch (random.Next(3))
        {
            case 1:
                return MoveWithinPrefecture(request, random, except: current.MunicipalityCode);
            case 2:
                var (outside, outsideCode) = OutsideDestinations[random.Next(OutsideDestinations.Length)];
                return request with { Address = outside, MunicipalityCode = outsideCode };
            default:
                return request;
        }
    }

    /// <summary>A name other than the current one (a few draws; the same name again is possible but rare).</summary>
    private static CreateChangeRequest NewName(CreateChangeRequest request, Random random, ResidentRecord current)
    {
        var (name, nameFlags) = PopulationGenerator.RandomName(random, current.Sex);
        for (var tries = 0; name == current.Name && tries < 5; tries++)
        {
            (name, nameFlags) = PopulationGenerator.RandomName(random, current.Sex);
        }

        return request with { Name = name, NameSubstitutes = nameFlags };
    }

    /// <summary>An address in a municipality of the prefecture other than <paramref name="except"/>.</summary>
    private static CreateChangeRequest MoveWithinPrefecture(CreateChangeRequest request, Random random, MunicipalityCode? except)
    {
        Municipality[] others = [.. Prefecture.Municipalities.Where(m => m.Code != except)];
        var destination = others[random.Next(others.Length)];
        var (address, flags) = PopulationGenerator.RandomAddress(random, destination);
        return request with { Address = address, AddressSubstitutes = flags, MunicipalityCode = destination.Code.Value };
    }

    private static ChangeType Pick(Random random, ImmutableArray<(ChangeType Type, int Weight)> weights)
    {
        var roll = random.Next(weights.Sum(w => w.Weight));
        foreach (var (type, weight) in weights)
        {
            if (roll < weight)
            {
                return type;
            }

            roll -= weight;
        }

        throw new InvalidOperationException("weights exhausted");
    }
}
