using Jpki.JukiNet.Simulator;

namespace Jpki.JukiNet.Tests;

public class SimulatorSettingsTests
{
    [Fact]
    public void Every_fault_switch_and_the_generator_have_a_command_line_option()
    {
        var settings = SimulatorSettings.FromArgs(
            [
                "--fault-seed", "5", "--fault-duplicates", "0.1", "--fault-late", "0.2", "--fault-late-release-polls", "4",
                "--fault-late-release-ms", "2500", "--fault-reorder", "0.3", "--fault-malformed", "0.4",
                "--fault-unknown-residents", "0.5", "--fault-outage-requests", "6", "--fault-outage-ms", "7000",
                "--fault-outage", "abort", "--fault-slow-ms", "800",
                "--changes-per-second", "12.5", "--changes-limit", "100", "--changes-seed", "9",
            ],
            "/tmp/home");

        Assert.Equal(
            new FaultSettings
            {
                Seed = 5,
                Duplicates = 0.1,
                Late = 0.2,
                LateReleaseAfterPolls = 4,
                LateReleaseAfterMs = 2500,
                Reorder = 0.3,
                Malformed = 0.4,
                UnknownResidents = 0.5,
                OutageRequests = 6,
                OutageMs = 7000,
                Outage = OutageKind.Abort,
                SlowMs = 800,
            },
            settings.Faults);
        Assert.Equal(new GeneratorSettings { ChangesPerSecond = 12.5, Limit = 100, Seed = 9 }, settings.Generator);
    }

    [Fact]
    public void Without_options_there_are_no_faults_and_no_generator()
    {
        var settings = SimulatorSettings.FromArgs([], "/tmp/home");
        Assert.Same(FaultSettings.Off, settings.Faults);
        Assert.False(settings.Faults.RewritesPages);
        Assert.Null(settings.Generator);
    }

    [Theory]
    [InlineData("late must be a fraction", "--fault-late", "1.5")]
    [InlineData("--fault-late needs a fraction", "--fault-late", "much")]
    [InlineData("slowMs must be 0-30000", "--fault-slow-ms", "30001")]
    [InlineData("--fault-outage must be unavailable or abort", "--fault-outage", "boom")]
    [InlineData("unknown argument --fault-everything", "--fault-everything", "1")]
    [InlineData("need --changes-per-second", "--changes-limit", "5")]
    [InlineData("changesPerSecond must be above 0", "--changes-per-second", "0")]
    [InlineData("limit must be at least 1", "--changes-per-second", "5", "--changes-limit", "0")]
    public void Bad_options_are_refused_by_name(string reason, params string[] args)
    {
        var error = Assert.Throws<ArgumentException>(() => SimulatorSettings.FromArgs(args, "/tmp/home"));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }
}
