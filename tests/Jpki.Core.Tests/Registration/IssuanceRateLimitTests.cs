using Jpki.Core.Configuration;
using Jpki.Core.Registration;

namespace Jpki.Core.Tests.Registration;

public sealed class IssuanceRateLimitTests
{
    [Theory]
    //          per hour per day  in hour  in day   reached window (h) retry after (s)
    [InlineData(120, 600, 0, 0, null, null)]
    [InlineData(120, 600, 119, 599, null, null)]
    [InlineData(120, 600, 120, 120, 1, 300L)]
    [InlineData(120, 600, 5, 600, 24, 7200L)]
    // Both reached: the hour is told, and the day is not counted.
    [InlineData(2, 3, 2, 3, 1, 300L)]
    [InlineData(2, 3, 1, 3, 24, 7200L)]
    public void The_hour_is_checked_before_the_day(int perHour, int perDay, long inHour, long inDay, int? reachedHours, long? retryAfter)
    {
        var counted = new List<TimeSpan>();
        var reached = new IssuanceRateLimit(perHour, perDay).Check(window =>
        {
            counted.Add(window);
            return window == TimeSpan.FromHours(1) ? inHour : inDay;
        });

        Assert.Equal(reachedHours, reached is null ? null : (int)reached.Window.TotalHours);
        Assert.Equal(retryAfter, reached?.RetryAfterSeconds);
        Assert.Equal(reachedHours == 1 ? 1 : 2, counted.Count);
    }

    [Fact]
    public void The_refusal_says_the_limit_and_the_window()
    {
        var refused = new RateLimitReached(TimeSpan.FromDays(1), 600).Refusal();

        Assert.Equal(IssuanceRefusal.RateLimited, refused.Refusal);
        Assert.Equal("this account has had 600 certificates issued in the last 24 hours, its limit; nothing was issued", refused.Detail);
        Assert.Equal(7200, refused.RetryAfterSeconds);
    }

    [Fact]
    public void The_limits_come_from_the_account_settings()
    {
        var limit = IssuanceRateLimit.From(new AccountSettings { IssuancePerOperatorPerHour = 7, IssuancePerOperatorPerDay = 9 });

        Assert.Equal(new IssuanceRateLimit(7, 9), limit);
    }
}
