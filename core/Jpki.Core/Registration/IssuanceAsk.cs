using Jpki.Core.Accounts;
using Jpki.Core.Profiles;
using Jpki.JukiNet;

namespace Jpki.Core.Registration;

/// <summary>
/// A window's request for one certificate, its fields checked for form (the HTTP layer reads
/// and checks the body); the rules about the resident are the service's.
/// </summary>
/// <param name="Operator">The operator at the window.</param>
/// <param name="ResidentCode">The resident's code (valid check digit).</param>
/// <param name="Kind">Signing or user authentication.</param>
/// <param name="Csr">The PKCS#10 request made on the card, PEM or base64 DER.</param>
/// <param name="WindowId">The window (9 ASCII letters or digits), in a signing certificate's issuance number.</param>
/// <param name="JukiSequence">The record sequence the window confirmed with the resident, if it gave one.</param>
/// <param name="CardExpiry">The card's expiry date, a cap of the validity.</param>
/// <param name="OverrideReason">An officer's reason to issue a signing certificate under the minimum age.</param>
/// <param name="Renews">The lower-case hex serial of the certificate this one renews.</param>
/// <param name="IdempotencyKey">The request's Idempotency-Key, or empty.</param>
/// <param name="RequestSha256">The SHA-256 (hex) of the request body, kept with the answer for the Idempotency-Key.</param>
public sealed record IssuanceAsk(
    Account Operator,
    ResidentCode ResidentCode,
    IssuerKind Kind,
    string Csr,
    string WindowId,
    long? JukiSequence,
    DateOnly? CardExpiry,
    string? OverrideReason,
    string? Renews,
    string IdempotencyKey,
    string RequestSha256)
{
    public bool HasIdempotencyKey => IdempotencyKey.Length > 0;
}

/// <summary>
/// Where the registration authority learns about a resident: Juki-Net's current record, and the
/// keyed hash (under the HMAC key <paramref name="HmacKeyId"/>) the store keeps instead of the code.
/// </summary>
/// <param name="Lookup">Juki-Net's lookup; throws <see cref="JukiNetUnavailableException"/> or <see cref="JukiNetProtocolException"/>.</param>
/// <param name="KeyOf">The keyed hash of a code; throws <see cref="Jpki.Hsm.HsmException"/> when the HSM fails.</param>
/// <param name="HmacKeyId">The id of the HMAC key, stored with each hash.</param>
public sealed record ResidentSource(
    Func<ResidentCode, CancellationToken, Task<ResidentLookupResult>> Lookup,
    Func<ResidentCode, byte[]> KeyOf,
    string HmacKeyId);
