using Jpki.Core.Store;

namespace Jpki.Core.Tests.Store;

public sealed class InstantTests
{
    [Fact]
    public void Micros_round_trip_and_drop_sub_microsecond_ticks()
    {
        var instant = new DateTimeOffset(2026, 11, 22, 1, 2, 3, TimeSpan.Zero).AddTicks(1_234_567);
        var micros = Instant.ToMicros(instant);
        Assert.Equal(1_795_309_323_123_456L, micros);
        Assert.Equal(instant.AddTicks(-7), Instant.FromMicros(micros));
        Assert.Equal(0, Instant.ToMicros(DateTimeOffset.UnixEpoch));
    }

    [Fact]
    public void Jst_date_is_nine_hours_ahead_of_utc()
    {
        Assert.Equal(new DateOnly(2026, 4, 1), Jst.DateOf(new DateTimeOffset(2026, 3, 31, 15, 0, 0, TimeSpan.Zero)));
        Assert.Equal(new DateOnly(2026, 3, 31), Jst.DateOf(new DateTimeOffset(2026, 3, 31, 14, 59, 59, TimeSpan.Zero)));
    }

    [Fact]
    public void Dates_are_yyyy_mm_dd_text()
    {
        Assert.Equal("2026-04-01", Instant.ToDateText(new DateOnly(2026, 4, 1)));
        Assert.Equal(new DateOnly(2026, 4, 1), Instant.ParseDateText("2026-04-01"));
        Assert.Throws<FormatException>(() => Instant.ParseDateText("2026/04/01"));
    }

    [Theory]
    [InlineData("Data Source=/tmp/x.db", true)]
    [InlineData("Filename=/tmp/x.db", true)]
    [InlineData("Host=127.0.0.1;Port=5432;Username=postgres", false)]
    public void The_connection_string_picks_the_engine(string connectionString, bool sqlite) =>
        Assert.Equal(sqlite, Database.IsSqlite(connectionString));
}
