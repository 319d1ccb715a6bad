using Jpki.Core.Issuance;
using Jpki.Core.Profiles;

namespace Jpki.Core.Registration;

/// <summary>What decides a new certificate's notBefore and notAfter (docs/jpki-profile.md §3, §5).</summary>
/// <param name="Now">The issuance instant.</param>
/// <param name="BirthDate">The holder's date of birth as Juki-Net gives it.</param>
/// <param name="Kind">Signing or user authentication.</param>
/// <param name="CardExpiry">The card's expiry date, if the window gave it.</param>
/// <param name="AuthenticationNotAfter">Signing only: the holder's newest unexpired authentication certificate's notAfter.</param>
/// <param name="IssuerNotAfter">The issuer certificate's notAfter.</param>
/// <param name="RenewalOf">The renewed certificate's notAfter, for a renewal.</param>
public sealed record ValidityCase(
    DateTimeOffset Now,
    JpkiBirthDate BirthDate,
    IssuerKind Kind,
    DateOnly? CardExpiry,
    DateTimeOffset? AuthenticationNotAfter,
    DateTimeOffset IssuerNotAfter,
    DateTimeOffset? RenewalOf);

/// <summary>
/// The validity of a new certificate: the birthday rule with its caps (card, authentication
/// certificate, issuer certificate), computed by <see cref="CertificateValidity"/>; a cap that
/// leaves nothing (an expired card or issuer) refuses the issuance.
/// </summary>
public static class ValidityPolicy
{
    /// <summary>The validity of <paramref name="c"/>, or the refusal when none is left.</summary>
    public static (CertificateValidity? Validity, IssuanceRefused? Refused) Decide(ValidityCase c)
    {
        ArgumentNullException.ThrowIfNull(c);
        try
        {
            return (CertificateValidity.Compute(c.Now, c.BirthDate, c.Kind, c.CardExpiry, c.AuthenticationNotAfter, c.IssuerNotAfter, c.RenewalOf), null);
        }
        catch (InvalidOperationException e)
        {
            return (null, new IssuanceRefused(IssuanceRefusal.ValidityEmpty, e.Message));
        }
    }
}
