using System.Text.Json;
using Jpki.JukiNet.Simulator;

namespace Jpki.JukiNet.Tests;

public class PopulationTests
{
    private static string Serialize(IReadOnlyList<ResidentRecord> residents) =>
        JsonSerializer.Serialize(residents, JukiNetJson.Options);

    [Fact]
    public void The_same_seed_gives_identical_residents()
    {
        Assert.Equal(Serialize(new PopulationGenerator(7).Generate(500)), Serialize(new PopulationGenerator(7).Generate(500)));
    }

    [Fact]
    public void A_different_seed_gives_different_residents()
    {
        var a = new PopulationGenerator(7).Generate(200);
        var b = new PopulationGenerator(8).Generate(200);
        Assert.NotEqual(Serialize(a), Serialize(b));
        Assert.Empty(a.Select(r => r.ResidentCode).Intersect(b.Select(r => r.ResidentCode)));
    }

    [Theory]
    [InlineData(1, 1000)]
    [InlineData(2, 1000)]
    [InlineData(42, 12)] // the smallest population that still holds every trait
    public void The_population_has_the_variety_the_ca_must_handle(int seed, int count)
    {
        var residents = new PopulationGenerator(seed).Generate(count);

        Assert.Equal(count, residents.Count);
        Assert.Equal(count, residents.Select(r => r.ResidentCode).Distinct().Count());
        Assert.All(residents, r => Assert.Null(r.Check()));
        Assert.All(residents, r => Assert.True(ResidentCode.TryParse(r.ResidentCode.Digits, out _, out _)));

        var kanji = residents.Where(r => r.Name.Contains('\u3000', StringComparison.Ordinal)).ToList();
        var latin = residents.Where(r => r.Name.All(c => char.IsAsciiLetterUpper(c) || c == ' ')).ToList();
        Assert.NotEmpty(kanji);
        Assert.NotEmpty(latin);
        Assert.Equal(count, kanji.Count + latin.Count);
        Assert.All(kanji, r => Assert.Single(r.Name, c => c == '\u3000'));
        Assert.All(latin, r => Assert.Contains(' ', r.Name));

        Assert.All(residents, r => Assert.Equal(r.Name.EnumerateRunes().Count(), r.NameSubstitutes.Length));
        Assert.All(residents, r => Assert.Equal(r.Address.EnumerateRunes().Count(), r.AddressSubstitutes.Length));
        Assert.Contains(residents, r => r.NameSubstitutes.Contains('1', StringComparison.Ordinal));
        Assert.Contains(residents, r => r.AddressSubstitutes.Contains('1', StringComparison.Ordinal));
        Assert.All(latin, r => Assert.DoesNotContain('1', r.NameSubstitutes));

        foreach (var era in Enum.GetValues<JapaneseEra>())
        {
            Assert.Contains(residents, r => r.DateOfBirth.Era == era);
        }

        Assert.Contains(residents, r => r.DateOfBirth.Month is null);
        Assert.Contains(residents, r => r.DateOfBirth.Month is not null && r.DateOfBirth.Day is null);
        Assert.All(residents.Where(r => r.DateOfBirth.Era == JapaneseEra.Unknown), r => Assert.Null(r.DateOfBirth.Day));
        Assert.Contains(residents, r => r.Sex == Sex.Unknown);

        Assert.All(residents, r =>
        {
            var municipality = Prefecture.Find(r.MunicipalityCode);
            Assert.NotNull(municipality);
            Assert.StartsWith("山口県" + municipality.Name, r.Address, StringComparison.Ordinal);
            Assert.True(r.Address.EnumerateRunes().Count() <= 200);
            Assert.DoesNotMatch("[0-9]", r.Address); // house numbers in full-width digits
            Assert.Equal(ResidentStatus.Registered, r.Status);
            Assert.Equal(0, r.Sequence);
        });
        if (count >= 1000)
        {
            Assert.Contains(residents, r => r.Address.Contains('－', StringComparison.Ordinal));
            Assert.Equal(Prefecture.Municipalities.Length, residents.Select(r => r.MunicipalityCode).Distinct().Count());
        }
    }

    [Fact]
    public void Settings_come_from_the_command_line_with_documented_defaults()
    {
        var defaults = SimulatorSettings.FromArgs([], "/home/x");
        Assert.Equal("/home/x/jukinet-sim.db", defaults.DatabasePath);
        Assert.Equal("http://127.0.0.1:8084", defaults.Urls);
        Assert.Equal(1000, defaults.Residents);
        Assert.Equal(1, defaults.Seed);

        var given = SimulatorSettings.FromArgs(["--db", "/tmp/s.db", "--urls", "http://127.0.0.1:0", "--residents", "5", "--seed", "9"], "/home/x");
        Assert.Equal(new SimulatorSettings { DatabasePath = "/tmp/s.db", Urls = "http://127.0.0.1:0", Residents = 5, Seed = 9 }, given);

        Assert.Throws<ArgumentException>(() => SimulatorSettings.FromArgs(["--residents", "-3"], "/h"));
        Assert.Throws<ArgumentException>(() => SimulatorSettings.FromArgs(["--seed"], "/h"));
        Assert.Throws<ArgumentException>(() => SimulatorSettings.FromArgs(["--port", "1"], "/h"));
    }
}
