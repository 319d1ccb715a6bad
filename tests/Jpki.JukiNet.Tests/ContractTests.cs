using System.Text.Json;

namespace Jpki.JukiNet.Tests;

public class ResidentCodeTests
{
    // Worked by hand with weights 6,5,4,3,2,7,6,5,4,3:
    //   1234567890: 6+10+12+12+10+42+42+40+36+0 = 210; 210 % 11 = 1 → check 0  → 12345678900
    //   0000000001: 1×3 = 3;                        3 % 11 = 3 → 11 − 3 = 8  → 00000000018
    //   1000000000: 1×6 = 6;                        6 % 11 = 6 → 11 − 6 = 5  → 10000000005
    //   2000000000: 2×6 = 12;                      12 % 11 = 1 → check 0     → 20000000000
    //   0000010000: 1×7 = 7;                        7 % 11 = 7 → 11 − 7 = 4  → 00000100004
    //   9999999999: 9×45 = 405;                   405 % 11 = 9 → 11 − 9 = 2  → 99999999992
    //   0000000000: 0;                              0 % 11 = 0 → check 0     → 00000000000
    [Theory]
    [InlineData("12345678900")]
    [InlineData("00000000018")]
    [InlineData("10000000005")]
    [InlineData("20000000000")]
    [InlineData("00000100004")]
    [InlineData("99999999992")]
    [InlineData("00000000000")]
    public void Hand_computed_codes_are_valid(string digits)
    {
        Assert.True(ResidentCode.TryParse(digits, out var code, out var error), error);
        Assert.Equal(digits, code.Digits);
        Assert.Equal(digits[^1] - '0', ResidentCode.CheckDigit(digits.AsSpan(0, 10)));
        Assert.Equal(code, ResidentCode.FromFirstTen(digits[..10]));
    }

    [Theory]
    [InlineData("12345678901", "check digit")]
    [InlineData("00000000019", "check digit")]
    [InlineData("99999999990", "check digit")]
    [InlineData("1234567890", "11 ASCII digits")]
    [InlineData("123456789000", "11 ASCII digits")]
    [InlineData("1234567890a", "11 ASCII digits")]
    [InlineData("１２３４５６７８９００", "11 ASCII digits")]
    [InlineData("", "11 ASCII digits")]
    [InlineData(null, "missing")]
    public void Bad_codes_are_refused_with_a_reason_that_does_not_repeat_them(string? text, string reason)
    {
        Assert.False(ResidentCode.TryParse(text, out var code, out var error));
        Assert.Null(code);
        Assert.Contains(reason, error, StringComparison.Ordinal);
        if (!string.IsNullOrEmpty(text))
        {
            Assert.DoesNotContain(text, error, StringComparison.Ordinal);
        }

        Assert.Throws<FormatException>(() => ResidentCode.Parse(text!));
    }

    [Fact]
    public void ToString_and_interpolation_give_only_the_redacted_form()
    {
        var code = ResidentCode.Parse("12345678900");
        Assert.Equal("*********00", code.Redacted);
        Assert.Equal("*********00", code.ToString());
        Assert.Equal("code *********00", $"code {code}");
        Assert.DoesNotContain("12345678900", new ResidentNotFound(code).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Json_carries_the_clear_digits_and_refuses_a_bad_check_digit()
    {
        var code = ResidentCode.Parse("00000000018");
        Assert.Equal("\"00000000018\"", JsonSerializer.Serialize(code, JukiNetJson.Options));
        Assert.Equal(code, JsonSerializer.Deserialize<ResidentCode>("\"00000000018\"", JukiNetJson.Options));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<ResidentCode>("\"00000000019\"", JukiNetJson.Options));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<ResidentCode>("18", JukiNetJson.Options));
    }
}

public class MunicipalityCodeTests
{
    // 35201: 3×6 + 5×5 + 2×4 + 0×3 + 1×2 = 53; 53 % 11 = 9; (11 − 9) % 10 = 2 → 352012 (山口市)
    // 35202: 55 % 11 = 0; (11 − 0) % 10 = 1 → 352021 (下関市); 35208: 67 % 11 = 1 → 0 → 352080 (岩国市)
    [Theory]
    [InlineData("352012")]
    [InlineData("352021")]
    [InlineData("352039")]
    [InlineData("352047")]
    [InlineData("352063")]
    [InlineData("352071")]
    [InlineData("352080")]
    [InlineData("352101")]
    [InlineData("352152")]
    public void Real_yamaguchi_codes_have_valid_check_digits(string text)
    {
        Assert.True(MunicipalityCode.TryParse(text, out var code, out var error), error);
        Assert.Equal("35", code.PrefectureCode);
    }

    [Theory]
    [InlineData("352013")]
    [InlineData("35201")]
    [InlineData("35201a")]
    public void Bad_codes_are_refused(string text) =>
        Assert.False(MunicipalityCode.TryParse(text, out _, out _));
}

public class BirthDateTests
{
    [Theory]
    [InlineData(1965, 4, 12, "319650412")]
    [InlineData(1868, 10, 23, "118681023")] // first day of 明治
    [InlineData(1912, 7, 29, "119120729")] // last day of 明治
    [InlineData(1912, 7, 30, "219120730")] // 大正
    [InlineData(1926, 12, 24, "219261224")]
    [InlineData(1926, 12, 25, "319261225")] // 昭和
    [InlineData(1989, 1, 7, "319890107")]
    [InlineData(1989, 1, 8, "419890108")] // 平成
    [InlineData(2019, 4, 30, "420190430")]
    [InlineData(2019, 5, 1, "520190501")] // 令和
    [InlineData(1989, 2, null, "419890200")] // February 1989 is all 平成
    [InlineData(1989, 1, null, "019890100")] // January 1989 spans 昭和 and 平成
    [InlineData(1989, null, null, "019890000")]
    [InlineData(1926, 12, null, "019261200")]
    [InlineData(1926, 11, null, "219261100")]
    [InlineData(1950, null, null, "319500000")]
    [InlineData(2019, null, null, "020190000")]
    [InlineData(2020, null, null, "520200000")]
    public void Formats_as_era_digit_and_gregorian_with_unknown_parts_zero(int year, int? month, int? day, string jpki)
    {
        Assert.True(BirthDate.TryCreate(year, month, day, out var date, out var error), error);
        Assert.Equal(jpki, date.ToJpki());
        Assert.Equal(date, BirthDate.ParseJpki(jpki));
        Assert.True(BirthDate.TryParseIso(date.ToIso(), out var fromIso, out _));
        Assert.Equal(date, fromIso);
        Assert.Equal($"\"{jpki}\"", JsonSerializer.Serialize(date, JukiNetJson.Options));
    }

    [Theory]
    [InlineData("419650412", "does not match")] // 1965 is 昭和 (3)
    [InlineData("019650412", "does not match")] // the era of a full date is known
    [InlineData("619650412", "era digit")]
    [InlineData("319650012", "needs a known month")]
    [InlineData("319650230", "does not exist")]
    [InlineData("319651300", "1-12")]
    [InlineData("118000101", "before the Meiji era")]
    [InlineData("31965041", "9 digits")]
    public void Inconsistent_jpki_dates_are_refused(string text, string reason)
    {
        Assert.False(BirthDate.TryParseJpki(text, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_parts_bound_the_earliest_and_latest_day()
    {
        var date = BirthDate.ParseJpki("019890000");
        Assert.Equal(new DateOnly(1989, 1, 1), date.Earliest);
        Assert.Equal(new DateOnly(1989, 12, 31), date.Latest);
        Assert.Equal(new DateOnly(2024, 2, 29), BirthDate.ParseJpki("520240200").Latest);
    }
}

public class ChangeEventTests
{
    private static readonly ResidentCode Code = ResidentCode.Parse("12345678900");

    private static ChangeEvent Event(ChangeType type) => new()
    {
        Sequence = 1,
        ResidentCode = Code,
        Type = type,
        EffectiveDate = new DateOnly(2026, 11, 1),
    };

    [Theory]
    [InlineData(ChangeType.MoveOut)]
    [InlineData(ChangeType.Correction)]
    [InlineData(ChangeType.Death)]
    [InlineData(ChangeType.Deletion)]
    public void Types_without_new_values_need_none(ChangeType type) => Assert.Null(Event(type).Check());

    [Theory]
    [InlineData(ChangeType.AddressChange, "address")]
    [InlineData(ChangeType.AddressRenumbering, "address")]
    [InlineData(ChangeType.MoveIn, "municipalityCode")]
    [InlineData(ChangeType.NameChange, "name")]
    [InlineData(ChangeType.SexChange, "sex")]
    [InlineData(ChangeType.BirthDateCorrection, "dateOfBirth")]
    [InlineData(ChangeType.Emigration, "continuedUse")]
    public void Types_with_new_values_refuse_an_event_without_them(ChangeType type, string member) =>
        Assert.Contains(member, Event(type).Check(), StringComparison.Ordinal);

    [Fact]
    public void Values_that_do_not_belong_to_the_type_are_refused() =>
        Assert.Contains("does not carry sex", (Event(ChangeType.NameChange) with
        {
            Name = "山田　花子",
            NameSubstitutes = "00000",
            Sex = Sex.Female,
        }).Check(), StringComparison.Ordinal);

    [Fact]
    public void Substitute_flags_must_match_the_name_length_in_characters()
    {
        var change = Event(ChangeType.NameChange) with { Name = "𠮷田　花子", NameSubstitutes = "100000" };
        Assert.Contains("one digit", change.Check(), StringComparison.Ordinal); // 𠮷 is one character, two UTF-16 units
        Assert.Null((change with { NameSubstitutes = "10000" }).Check());
    }

    [Fact]
    public void Json_uses_camel_case_types_iso_effective_dates_and_leaves_absent_values_out()
    {
        var json = JsonSerializer.Serialize(Event(ChangeType.Emigration) with { ContinuedUse = true }, JukiNetJson.Options);
        Assert.Equal(
            """{"sequence":1,"residentCode":"12345678900","type":"emigration","effectiveDate":"2026-11-01","continuedUse":true}""",
            json);
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<ChangeEvent>(json.Replace("\"emigration\"", "9", StringComparison.Ordinal), JukiNetJson.Options));
    }
}
