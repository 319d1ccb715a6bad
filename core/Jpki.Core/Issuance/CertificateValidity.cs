using Jpki.Core.Profiles;

namespace Jpki.Core.Issuance;

/// <summary>What decided a certificate's notAfter.</summary>
public enum ValidityLimit
{
    /// <summary>The 5th (or, for a renewal, 6th) birthday after issuance.</summary>
    Birthday,

    /// <summary>The card's expiry date.</summary>
    CardExpiry,

    /// <summary>The holder's user-authentication certificate (signing certificates only).</summary>
    AuthenticationCertificate,

    /// <summary>The issuer certificate's notAfter.</summary>
    IssuerCertificate,
}

/// <summary>
/// The validity of an end-entity certificate (docs/jpki-profile.md §3, §5). All dates are JST
/// (fixed +09:00), whatever the machine's time zone or UTC date. notAfter is always 23:59:59 JST
/// (14:59:59Z) of some day, also when a cap decides it: a cap given as an instant moves back to
/// the last 23:59:59 JST at or before it, so no certificate ends in the middle of a JST day.
/// </summary>
public sealed record CertificateValidity
{
    /// <summary>Birthdays counted after issuance for a first issuance.</summary>
    public const int Birthdays = 5;

    /// <summary>Months before the old certificate's end in which a renewal counts one birthday more.</summary>
    public const int RenewalWindowMonths = 3;

    private CertificateValidity(DateTimeOffset notBefore, DateTimeOffset notAfter, ValidityLimit limitedBy, int birthdaysCounted)
    {
        NotBefore = notBefore;
        NotAfter = notAfter;
        LimitedBy = limitedBy;
        BirthdaysCounted = birthdaysCounted;
    }

    /// <summary>The issuance instant in whole seconds, UTC.</summary>
    public DateTimeOffset NotBefore { get; }

    /// <summary>23:59:59 JST of the last valid day, UTC (always hh:mm:ss = 14:59:59).</summary>
    public DateTimeOffset NotAfter { get; }

    public ValidityLimit LimitedBy { get; }

    /// <summary>
    /// Which birthday after issuance the birthday rule counted: 5, or 6 for a renewal inside the
    /// old certificate's last three months (whether or not a cap then decided notAfter).
    /// </summary>
    public int BirthdaysCounted { get; }

    /// <summary>Whether <paramref name="issuedAt"/> falls in the renewal window of a certificate ending at <paramref name="oldNotAfter"/>.</summary>
    public static bool InRenewalWindow(DateTimeOffset issuedAt, DateTimeOffset oldNotAfter) =>
        IsRenewalInWindow(Jst.TruncateToSeconds(issuedAt), oldNotAfter);

    /// <summary>Computes notBefore and notAfter.</summary>
    /// <param name="issuedAt">Issuance instant; sub-second precision is dropped.</param>
    /// <param name="birthDate">The holder's date of birth (unknown month → January, unknown day → 1st).</param>
    /// <param name="kind">Signing or user authentication.</param>
    /// <param name="cardExpiry">The card's expiry date (JST calendar date), if known: the certificate ends at 23:59:59 JST that day at the latest.</param>
    /// <param name="authCertificateNotAfter">Signing only: the holder's user-authentication certificate's notAfter, a cap.</param>
    /// <param name="issuerNotAfter">The issuer certificate's notAfter, always a cap.</param>
    /// <param name="renewalOf">The notAfter of the certificate being renewed, if this is a renewal.</param>
    /// <exception cref="ArgumentException">An authentication-certificate cap for an authentication certificate.</exception>
    /// <exception cref="InvalidOperationException">A cap ends the validity before or at issuance (card or issuer expired).</exception>
    public static CertificateValidity Compute(
        DateTimeOffset issuedAt,
        JpkiBirthDate birthDate,
        IssuerKind kind,
        DateOnly? cardExpiry,
        DateTimeOffset? authCertificateNotAfter,
        DateTimeOffset issuerNotAfter,
        DateTimeOffset? renewalOf = null)
    {
        ArgumentNullException.ThrowIfNull(birthDate);
        if (!Enum.IsDefined(kind))
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown certificate kind");
        }

        if (kind == IssuerKind.Authentication && authCertificateNotAfter is not null)
        {
            throw new ArgumentException("only a signing certificate is capped by the holder's authentication certificate", nameof(authCertificateNotAfter));
        }

        var notBefore = Jst.TruncateToSeconds(issuedAt);
        var issuedOn = Jst.DateOf(notBefore);
        var birthdays = IsRenewalInWindow(notBefore, renewalOf) ? Birthdays + 1 : Birthdays;

        var notAfter = Jst.EndOfDay(NthBirthdayAfter(birthDate, issuedOn, birthdays));
        var limitedBy = ValidityLimit.Birthday;

        void Cap(DateTimeOffset candidate, ValidityLimit limit)
        {
            if (candidate < notAfter)
            {
                notAfter = candidate;
                limitedBy = limit;
            }
        }

        if (cardExpiry is { } card)
        {
            Cap(Jst.EndOfDay(card), ValidityLimit.CardExpiry);
        }

        if (authCertificateNotAfter is { } auth)
        {
            Cap(LastEndOfDayAtOrBefore(auth), ValidityLimit.AuthenticationCertificate);
        }

        Cap(LastEndOfDayAtOrBefore(issuerNotAfter), ValidityLimit.IssuerCertificate);

        if (notAfter <= notBefore)
        {
            throw new InvalidOperationException(
                $"the {limitedBy} limit ends the validity at {notAfter:u}, not after issuance at {notBefore:u}");
        }

        return new CertificateValidity(notBefore, notAfter, limitedBy, birthdays);
    }

    /// <summary>
    /// The <paramref name="n"/>th birthday strictly after <paramref name="issuedOn"/>: a
    /// certificate issued on the birthday itself does not count that day.
    /// </summary>
    public static DateOnly NthBirthdayAfter(JpkiBirthDate birthDate, DateOnly issuedOn, int n)
    {
        ArgumentNullException.ThrowIfNull(birthDate);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        var firstYear = birthDate.BirthdayIn(issuedOn.Year) > issuedOn ? issuedOn.Year : issuedOn.Year + 1;
        return birthDate.BirthdayIn(firstYear + n - 1);
    }

    /// <summary>
    /// A renewal issued from 00:00 JST of the day three months before the old certificate's
    /// last JST day up to its notAfter gets one birthday more, so the holder loses no time by
    /// renewing early; after the old one has expired it is a new issuance.
    /// </summary>
    private static bool IsRenewalInWindow(DateTimeOffset issuedAt, DateTimeOffset? renewalOf)
    {
        if (renewalOf is not { } oldNotAfter)
        {
            return false;
        }

        var windowStart = Jst.StartOfDay(Jst.DateOf(oldNotAfter).AddMonths(-RenewalWindowMonths));
        return issuedAt >= windowStart && issuedAt <= oldNotAfter;
    }

    /// <summary>The latest 23:59:59 JST that is not after <paramref name="instant"/>.</summary>
    private static DateTimeOffset LastEndOfDayAtOrBefore(DateTimeOffset instant)
    {
        var endOfThatDay = Jst.EndOfDay(Jst.DateOf(instant));
        return endOfThatDay <= instant ? endOfThatDay : Jst.EndOfDay(Jst.DateOf(instant).AddDays(-1));
    }
}
