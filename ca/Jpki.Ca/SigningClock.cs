using System.Globalization;
using Jpki.Core.Clock;

namespace Jpki.Ca;

/// <summary>
/// The clock check of the CA's signatures: while <see cref="ClockGuard"/> refuses (offset out of
/// bounds, unsynchronised, or no source on a production install), issuance answers 503
/// <c>urn:jpki:problem:clock-unsynchronised</c> before anything is looked up, numbered or signed.
/// </summary>
public static class SigningClock
{
    /// <summary>The 503 problem while the clock refuses signatures (with Retry-After: one check interval); null when signing may go on.</summary>
    public static IResult? Refusal(ClockGuard clock, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentNullException.ThrowIfNull(context);
        var verdict = clock.Current;
        if (verdict.MaySign)
        {
            return null;
        }

        context.Response.Headers.RetryAfter = clock.Settings.CheckEverySeconds.ToString(CultureInfo.InvariantCulture);
        return ProblemTypes.Problem(503, ProblemTypes.ClockUnsynchronised, "clock not synchronised", $"{verdict.Reason}; nothing was issued, try again later");
    }
}
