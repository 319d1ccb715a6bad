using Jpki.Core.Issuance;

namespace Jpki.Core.Tests.Issuance;

public sealed class ResidentFactsTests
{
    private static readonly JpkiBirthDate Birth = new(4, 1995, 7, 7);

    [Theory]
    [InlineData(3, 1980, 2, 29, "319800229")]
    [InlineData(0, 0, 0, 0, "000000000")]
    [InlineData(2, 1920, 0, 0, "219200000")]
    [InlineData(5, 2019, 5, 1, "520190501")]
    [InlineData(1, 1868, 10, 23, "118681023")]
    public void A_birth_date_is_written_EYYYYMMDD_with_unknown_parts_as_zeros(int era, int year, int month, int day, string text)
    {
        var date = new JpkiBirthDate(era, year, month, day);

        Assert.Equal(text, date.ToString());
        Assert.Equal(date, JpkiBirthDate.Parse(text));
    }

    [Theory]
    [InlineData(6, 1980, 1, 1)] // no such era
    [InlineData(3, 1981, 2, 29)] // not a leap year
    [InlineData(3, 1980, 13, 1)]
    [InlineData(3, 1980, 4, 31)]
    [InlineData(4, 1980, 1, 1)] // 平成 began in 1989
    [InlineData(0, 1700, 1, 1)]
    public void Impossible_birth_dates_are_refused(int era, int year, int month, int day)
    {
        Assert.Throws<ArgumentException>(() => new JpkiBirthDate(era, year, month, day));
    }

    [Theory]
    [InlineData("31980022")]
    [InlineData("3198002290")]
    [InlineData("3198O0229")]
    [InlineData("319801301")]
    public void Parse_refuses_malformed_text(string text)
    {
        Assert.Throws<FormatException>(() => JpkiBirthDate.Parse(text));
    }

    [Fact]
    public void A_29_February_birthday_with_an_unknown_year_is_allowed()
    {
        Assert.Equal("000000229", new JpkiBirthDate(0, 0, 2, 29).ToString());
    }

    [Fact]
    public void Substitute_flags_count_characters_outside_the_BMP_as_one()
    {
        // 𠮷 is one character (a surrogate pair in UTF-16) and gets one flag.
        var facts = new ResidentFacts("𠮷田\u3000太郎", "10000", ResidentSex.Male, Birth, "山口県", "000");

        Assert.Equal("1", facts.SexCode);
        Assert.Throws<ArgumentException>(() => new ResidentFacts("𠮷田\u3000太郎", "100000", ResidentSex.Male, Birth, "山口県", "000"));
    }

    [Theory]
    [InlineData("0001", "000")] // name flags too short
    [InlineData("00002", "000")] // not 0/1
    [InlineData("00000", "0000")] // address flags too long
    public void Substitute_flags_must_be_one_0_or_1_per_character(string nameFlags, string addressFlags)
    {
        var e = Assert.Throws<ArgumentException>(() => new ResidentFacts("山田\u3000太郎", nameFlags, ResidentSex.Male, Birth, "山口県", addressFlags));
        Assert.Contains("substitute flags", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sex_must_be_1_2_or_3()
    {
        var e = Assert.Throws<ArgumentException>(() => new ResidentFacts("山田\u3000太郎", "00000", (ResidentSex)4, Birth, "山口県", "000"));
        Assert.Equal("sex", e.ParamName);
    }

    [Fact]
    public void The_address_has_at_most_200_characters()
    {
        var longest = "山口県" + new string('一', 197);
        _ = new ResidentFacts("山田\u3000太郎", "00000", ResidentSex.Male, Birth, longest, new string('0', 200));

        var e = Assert.Throws<ArgumentException>(() =>
            new ResidentFacts("山田\u3000太郎", "00000", ResidentSex.Male, Birth, longest + "一", new string('0', 201)));
        Assert.Equal("address", e.ParamName);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    [InlineData("山田\n太郎")]
    [InlineData("山田\ud800太郎")] // unpaired surrogate
    public void Names_must_be_printable_text(string name)
    {
        Assert.ThrowsAny<ArgumentException>(() => new ResidentFacts(name, new string('0', Math.Max(name.Length, 1)), ResidentSex.Male, Birth, "山口県", "000"));
    }
}
