using Jpki.Core.Configuration;

namespace Jpki.Core.Registration;

/// <summary>A limit an operator reached: <paramref name="Limit"/> certificates within <paramref name="Window"/>.</summary>
public sealed record RateLimitReached(TimeSpan Window, int Limit)
{
    /// <summary>A twelfth of the window: five minutes for the hourly limit, two hours for the daily one.</summary>
    public long RetryAfterSeconds => (long)Window.TotalSeconds / 12;

    public IssuanceRefused Refusal() =>
        new(IssuanceRefusal.RateLimited, $"this account has had {Limit} certificates issued in the last {Window.TotalHours:0} hours, its limit; nothing was issued")
        {
            RetryAfterSeconds = RetryAfterSeconds,
        };
}

/// <summary>
/// An operator's certificates over the last hour and the last day against
/// <c>accounts.issuancePerOperatorPerHour</c> and <c>...PerDay</c>, so that a stolen operator token
/// cannot issue at machine speed. Checked before signing, not under the writers' lock: concurrent
/// requests of one operator may pass the limit by the few that are being signed at that moment.
/// </summary>
public sealed record IssuanceRateLimit(int PerHour, int PerDay)
{
    public static IssuanceRateLimit From(AccountSettings accounts)
    {
        ArgumentNullException.ThrowIfNull(accounts);
        return new IssuanceRateLimit(accounts.IssuancePerOperatorPerHour, accounts.IssuancePerOperatorPerDay);
    }

    /// <summary>
    /// The first limit reached, the hour's before the day's, or null. <paramref name="issuedWithin"/>
    /// counts the operator's certificates within a window; the day is not counted when the hour refuses.
    /// </summary>
    public RateLimitReached? Check(Func<TimeSpan, long> issuedWithin)
    {
        ArgumentNullException.ThrowIfNull(issuedWithin);
        foreach (var (window, limit) in new[] { (TimeSpan.FromHours(1), PerHour), (TimeSpan.FromDays(1), PerDay) })
        {
            if (issuedWithin(window) >= limit)
            {
                return new RateLimitReached(window, limit);
            }
        }

        return null;
    }
}
