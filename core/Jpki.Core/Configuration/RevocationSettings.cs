namespace Jpki.Core.Configuration;

/// <summary>The <c>revocation</c> section: revocations that are not the feed's.</summary>
public sealed record RevocationSettings
{
    /// <summary>How long a second officer has to approve an issuer-key compromise.</summary>
    public int TwoOfficerWindowMinutes { get; init; } = 60;

    /// <summary>A certificate whose delivery to the card is not confirmed this long after issuance is revoked.</summary>
    public int DeliveryConfirmMinutes { get; init; } = 30;
}
