using Jpki.Core.Certificates;
using Jpki.Core.Profiles;
using Jpki.Core.Registration;

namespace Jpki.Core.Tests.Registration;

public sealed class RenewalPolicyTests
{
    private const long Now = 1_000_000;
    private static readonly byte[] Holder = [1, 2, 3];

    /// <summary>Each row breaks one rule of the renewed certificate (or none).</summary>
    [Theory]
    //          exists holder  hmac key             kind              status     notAfter   expected (null: renewable)
    [InlineData(true, true, "resident-hmac-v1", "authentication", "good", Now + 1, null)]
    [InlineData(false, true, "resident-hmac-v1", "authentication", "good", Now + 1, IssuanceRefusal.RenewalNotFound)]
    [InlineData(true, false, "resident-hmac-v1", "authentication", "good", Now + 1, IssuanceRefusal.RenewalNotTheHolder)]
    // The same bytes under another HMAC key are not the same resident.
    [InlineData(true, true, "resident-hmac-v2", "authentication", "good", Now + 1, IssuanceRefusal.RenewalNotTheHolder)]
    [InlineData(true, true, "resident-hmac-v1", "signing", "good", Now + 1, IssuanceRefusal.RenewalKindMismatch)]
    [InlineData(true, true, "resident-hmac-v1", "authentication", "revoked", Now + 1, IssuanceRefusal.RenewalRevoked)]
    [InlineData(true, true, "resident-hmac-v1", "authentication", "good", Now, IssuanceRefusal.RenewalExpired)]
    // Revoked and expired: revoked is told first.
    [InlineData(true, true, "resident-hmac-v1", "authentication", "revoked", Now - 1, IssuanceRefusal.RenewalRevoked)]
    public void Each_rule_refuses_with_its_own_refusal(bool exists, bool sameHolder, string hmacKeyId, string kind, string status, long notAfterUs, IssuanceRefusal? expected)
    {
        var target = exists
            ? new RenewalTargetRow { Serial = "0a", Kind = kind, ResidentKey = sameHolder ? [1, 2, 3] : [9, 9, 9], HmacKeyId = hmacKeyId, Status = status, NotAfterUs = notAfterUs }
            : null;

        var refused = RenewalPolicy.Check(target, "0a", IssuerKind.Authentication, Holder, "resident-hmac-v1", Now);

        Assert.Equal(expected, refused?.Refusal);
    }

    [Fact]
    public void A_kind_mismatch_names_both_kinds()
    {
        var target = new RenewalTargetRow { Serial = "0a", Kind = "authentication", ResidentKey = Holder, HmacKeyId = "k", Status = "good", NotAfterUs = Now + 1 };

        var refused = RenewalPolicy.Check(target, "0a", IssuerKind.Signing, Holder, "k", Now);

        Assert.Equal("a signing certificate renews a signing certificate, not a authentication one; nothing was issued", refused!.Detail);
    }
}
