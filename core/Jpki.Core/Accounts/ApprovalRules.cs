namespace Jpki.Core.Accounts;

/// <summary>Why a dual-control request or approval is refused; each maps to one problem type of the API.</summary>
public enum ApprovalRefusal
{
    None,

    /// <summary>The requester tries to approve their own request.</summary>
    SameOfficer,

    /// <summary>An officer asks for, or approves, a change to their own account.</summary>
    OwnAccount,

    /// <summary>The approver's account did not exist when the request was made.</summary>
    ApproverNewerThanRequest,

    /// <summary>Requester and approver brought one another to power (created, enabled or re-roled).</summary>
    RelatedOfficers,

    /// <summary>The request's window has passed.</summary>
    Expired,

    /// <summary>The request was approved or rejected already.</summary>
    NotPending,

    /// <summary>The change would leave fewer than two enabled officers.</summary>
    TooFewOfficers,
}

/// <summary>
/// The rules of multi-person control, apart from the store so that they are table-tested alone:
/// requester, approver and the account acted on are three different accounts; the approver
/// existed before the request and neither of the two officers took part in bringing the other to
/// power; the approval comes within the window, once; at least two enabled officers remain.
/// </summary>
public static class ApprovalRules
{
    public const int MinimumOfficers = 2;

    /// <summary>What refuses a new request of <paramref name="requester"/> about <paramref name="subjectAccount"/> (null when it is not about an account).</summary>
    public static ApprovalRefusal CheckRequest(string requester, string? subjectAccount, long activeOfficersAfter)
    {
        if (subjectAccount is not null && string.Equals(requester, subjectAccount, StringComparison.Ordinal))
        {
            return ApprovalRefusal.OwnAccount;
        }

        return activeOfficersAfter < MinimumOfficers ? ApprovalRefusal.TooFewOfficers : ApprovalRefusal.None;
    }

    /// <summary>What refuses <paramref name="approver"/>'s approval of <paramref name="request"/> at <paramref name="nowUs"/>.</summary>
    /// <param name="request">The request as stored.</param>
    /// <param name="subjectAccount">The account acted on, if the request is about one.</param>
    /// <param name="approver">The approving officer's id.</param>
    /// <param name="approverCreatedUs">When the approving account was created.</param>
    /// <param name="related">Whether requester and approver took part in bringing one another to power.</param>
    /// <param name="activeOfficersAfter">Enabled officers once the change is made.</param>
    /// <param name="nowUs">The time of the approval.</param>
    public static ApprovalRefusal CheckApproval(
        ApprovalRequest request, string? subjectAccount, string approver, long approverCreatedUs, bool related, long activeOfficersAfter, long nowUs)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request switch
        {
            { State: not ApprovalState.Pending } => ApprovalRefusal.NotPending,
            _ when string.Equals(request.RequestedBy, approver, StringComparison.Ordinal) => ApprovalRefusal.SameOfficer,
            _ when subjectAccount is not null && string.Equals(subjectAccount, approver, StringComparison.Ordinal) => ApprovalRefusal.OwnAccount,
            _ when nowUs >= request.ExpiresUs => ApprovalRefusal.Expired,
            _ when approverCreatedUs >= request.RequestedUs => ApprovalRefusal.ApproverNewerThanRequest,
            _ when related => ApprovalRefusal.RelatedOfficers,
            _ when activeOfficersAfter < MinimumOfficers => ApprovalRefusal.TooFewOfficers,
            _ => ApprovalRefusal.None,
        };
    }
}
