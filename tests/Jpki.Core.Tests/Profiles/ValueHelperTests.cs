using System.Formats.Asn1;
using Jpki.Core.Profiles;
using Org.BouncyCastle.Asn1;

namespace Jpki.Core.Tests.Profiles;

public class SerialNumbersTests
{
    [Fact]
    public void New_serials_are_positive_distinct_and_exactly_16_DER_octets()
    {
        var serials = Enumerable.Range(0, 2000).Select(_ => SerialNumbers.New()).ToList();

        Assert.All(serials, serial =>
        {
            Assert.Equal(1, serial.SignValue);
            var der = new DerInteger(serial).GetDerEncoded();
            Assert.Equal(2 + 16, der.Length);
            Assert.Equal(16, new AsnReader(der, AsnEncodingRules.DER).ReadIntegerBytes().Length);
        });
        Assert.Equal(serials.Count, serials.Select(SerialNumbers.ToHex).Distinct().Count());
    }

    [Fact]
    public void Hex_form_is_32_lowercase_characters_and_round_trips()
    {
        var serial = SerialNumbers.New();

        var hex = SerialNumbers.ToHex(serial);

        Assert.Matches("^[0-7][0-9a-f]{31}$", hex);
        Assert.Equal(serial, SerialNumbers.FromHex(hex));
    }

    [Theory]
    [InlineData("")]
    [InlineData("80")]
    [InlineData("0102030405060708090a0b0c0d0e0f101112131415")]
    [InlineData("xyz")]
    public void FromHex_refuses_what_is_not_a_serial(string hex)
    {
        Assert.Throws<FormatException>(() => SerialNumbers.FromHex(hex));
    }
}

public class JstTests
{
    [Fact]
    public void DateOf_uses_the_Japanese_calendar_day()
    {
        Assert.Equal(new DateOnly(2024, 3, 31), Jst.DateOf(new DateTimeOffset(2024, 3, 31, 14, 59, 59, TimeSpan.Zero)));
        Assert.Equal(new DateOnly(2024, 4, 1), Jst.DateOf(new DateTimeOffset(2024, 3, 31, 15, 0, 0, TimeSpan.Zero)));
    }

    [Fact]
    public void EndOfDay_is_145959Z()
    {
        var end = Jst.EndOfDay(new DateOnly(2034, 4, 1));

        Assert.Equal(new DateTimeOffset(2034, 4, 1, 14, 59, 59, TimeSpan.Zero), end);
        Assert.Equal(TimeSpan.Zero, end.Offset);
    }

    [Fact]
    public void StartOfDay_is_150000Z_the_day_before()
    {
        Assert.Equal(new DateTimeOffset(2024, 2, 29, 15, 0, 0, TimeSpan.Zero), Jst.StartOfDay(new DateOnly(2024, 3, 1)));
    }

    [Fact]
    public void TruncateToSeconds_drops_the_fraction_and_normalises_to_UTC()
    {
        var instant = new DateTimeOffset(2026, 11, 22, 12, 4, 5, 999, Jst.Offset);

        Assert.Equal(new DateTimeOffset(2026, 11, 22, 3, 4, 5, TimeSpan.Zero), Jst.TruncateToSeconds(instant));
    }
}

public class JpkiNamesTests
{
    [Fact]
    public void Country_must_be_two_upper_case_letters()
    {
        Assert.Throws<ArgumentException>(() => JpkiNames.Create(NameEntry.Country("jp")));
        Assert.Throws<ArgumentException>(() => JpkiNames.Create(NameEntry.Country("JPN")));
    }

    [Fact]
    public void Attributes_outside_the_profile_are_refused()
    {
        Assert.Throws<ArgumentException>(() => JpkiNames.Create(new NameEntry(new DerObjectIdentifier("2.5.4.5"), "1")));
    }

    [Fact]
    public void Locality_is_UTF8_and_order_is_kept()
    {
        var name = JpkiNames.Create(NameEntry.Country("JP"), NameEntry.Locality("Yamaguchi-ken"), NameEntry.Locality("Hagi-shi"), NameEntry.CommonName("x"));

        Assert.Equal(
            [
                new DerNameEntry(CertificateDer.CountryName, UniversalTagNumber.PrintableString, "JP"),
                new DerNameEntry("2.5.4.7", UniversalTagNumber.UTF8String, "Yamaguchi-ken"),
                new DerNameEntry("2.5.4.7", UniversalTagNumber.UTF8String, "Hagi-shi"),
                new DerNameEntry(CertificateDer.CommonName, UniversalTagNumber.UTF8String, "x"),
            ],
            CertificateDer.ParseName(name.GetDerEncoded()));
    }

    [Fact]
    public void Prefecture_code_must_be_01_to_47()
    {
        Assert.Throws<ArgumentException>(() => new Prefecture("Yamaguchi-ken", "山口県", "48"));
        Assert.Throws<ArgumentException>(() => new Prefecture("Yamaguchi-ken", "山口県", "5"));
        Assert.Equal("35", new Prefecture("Yamaguchi-ken", "山口県", "35").Code);
    }
}
