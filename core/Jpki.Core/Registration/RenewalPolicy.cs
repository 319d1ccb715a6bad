using Jpki.Core.Certificates;
using Jpki.Core.Profiles;

namespace Jpki.Core.Registration;

/// <summary>
/// Which certificate a new one may renew (docs/design.md §9, issue 8): it exists, is the same
/// resident's (same keyed hash under the same HMAC key), of the same kind, good and not expired.
/// Checked before signing and again under the writers' lock before the new one is stored.
/// </summary>
public static class RenewalPolicy
{
    /// <summary>The first rule the renewal of <paramref name="target"/> breaks, or null when it may be renewed.</summary>
    public static IssuanceRefused? Check(RenewalTargetRow? target, string serial, IssuerKind kind, byte[] residentKey, string hmacKeyId, long nowUs)
    {
        ArgumentNullException.ThrowIfNull(residentKey);
        if (target is null)
        {
            return new IssuanceRefused(IssuanceRefusal.RenewalNotFound, $"the CA issued no resident certificate with serial {serial}; nothing was issued");
        }

        if (target.ResidentKey is null || target.HmacKeyId != hmacKeyId || !target.ResidentKey.AsSpan().SequenceEqual(residentKey))
        {
            return new IssuanceRefused(IssuanceRefusal.RenewalNotTheHolder, "the certificate to renew does not belong to this resident; nothing was issued");
        }

        var kindName = ProfilePolicy.KindName(kind);
        if (target.Kind != kindName)
        {
            return new IssuanceRefused(IssuanceRefusal.RenewalKindMismatch, $"a {kindName} certificate renews a {kindName} certificate, not a {target.Kind} one; nothing was issued");
        }

        if (target.Status != "good")
        {
            return new IssuanceRefused(IssuanceRefusal.RenewalRevoked, "a revoked certificate is not renewed; issue without renews; nothing was issued");
        }

        if (target.NotAfterUs <= nowUs)
        {
            return new IssuanceRefused(IssuanceRefusal.RenewalExpired, "an expired certificate is not renewed; issue without renews; nothing was issued");
        }

        return null;
    }
}
