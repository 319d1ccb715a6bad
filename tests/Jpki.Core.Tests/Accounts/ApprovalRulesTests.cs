using System.Text.Json.Nodes;
using Jpki.Core.Accounts;

namespace Jpki.Core.Tests.Accounts;

/// <summary>The multi-person rules alone, one row per way an insider might try to get round them.</summary>
public sealed class ApprovalRulesTests
{
    private const long RequestedUs = 1_000_000;
    private const long ExpiresUs = 2_000_000;

    [Theory]
    [InlineData("officer1", "target", 2, ApprovalRefusal.None)]
    [InlineData("officer1", null, 2, ApprovalRefusal.None)]
    [InlineData("officer1", "officer1", 3, ApprovalRefusal.OwnAccount)]
    [InlineData("officer1", "officer2", 1, ApprovalRefusal.TooFewOfficers)]
    [InlineData("officer1", null, 1, ApprovalRefusal.TooFewOfficers)]
    public void A_request(string requester, string? subject, long officersAfter, ApprovalRefusal expected) =>
        Assert.Equal(expected, ApprovalRules.CheckRequest(requester, subject, officersAfter));

    [Theory]
    [InlineData("officer2", "target", 500_000, false, 2, 1_500_000, ApprovalRefusal.None)]
    [InlineData("officer1", "target", 500_000, false, 2, 1_500_000, ApprovalRefusal.SameOfficer)]
    [InlineData("officer2", "officer2", 500_000, false, 2, 1_500_000, ApprovalRefusal.OwnAccount)]
    [InlineData("officer2", "target", 500_000, false, 2, 2_000_000, ApprovalRefusal.Expired)]
    [InlineData("officer2", "target", 1_000_000, false, 2, 1_500_000, ApprovalRefusal.ApproverNewerThanRequest)]
    [InlineData("officer2", "target", 500_000, true, 2, 1_500_000, ApprovalRefusal.RelatedOfficers)]
    [InlineData("officer2", "target", 500_000, false, 1, 1_500_000, ApprovalRefusal.TooFewOfficers)]
    [InlineData("officer2", null, 500_000, false, 2, 1_500_000, ApprovalRefusal.None)]
    public void An_approval(string approver, string? subject, long approverCreatedUs, bool related, long officersAfter, long nowUs, ApprovalRefusal expected) =>
        Assert.Equal(expected, ApprovalRules.CheckApproval(Pending(), subject, approver, approverCreatedUs, related, officersAfter, nowUs));

    [Theory]
    [InlineData(ApprovalState.Approved)]
    [InlineData(ApprovalState.Rejected)]
    public void A_decided_request_is_not_approved_again(ApprovalState state) =>
        Assert.Equal(ApprovalRefusal.NotPending, ApprovalRules.CheckApproval(Pending() with { State = state }, "target", "officer2", 500_000, false, 2, 1_500_000));

    private static ApprovalRequest Pending() =>
        new(1, ApprovalAction.AccountDisable, "target", new JsonObject(), "officer1", RequestedUs, ExpiresUs, ApprovalState.Pending, null, null);
}
