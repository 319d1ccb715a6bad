namespace Jpki.Core.Configuration;

/// <summary>
/// How accounts authenticate and how far one account may go (<c>accounts.*</c> in jpki.json):
/// token and session lifetimes, the dual-control window, login throttling, and the issuance rate
/// of one operator (a stolen operator token cannot issue at machine speed).
/// </summary>
public sealed record AccountSettings
{
    /// <summary>An API token expires this many days after it was made or rotated.</summary>
    public int TokenLifetimeDays { get; init; } = 90;

    /// <summary>A password login's session ends this many minutes after it began.</summary>
    public int SessionMinutes { get; init; } = 30;

    /// <summary>How long a dual-control request waits for its second officer.</summary>
    public int ApprovalWindowMinutes { get; init; } = 60;

    /// <summary>How long the holder of a new officer or auditor account has to activate it.</summary>
    public int ActivationHours { get; init; } = 72;

    /// <summary>Certificates one operator may have issued in the last hour; more are refused (429).</summary>
    public int IssuancePerOperatorPerHour { get; init; } = 120;

    /// <summary>Certificates one operator may have issued in the last 24 hours.</summary>
    public int IssuancePerOperatorPerDay { get; init; } = 600;

    internal void Validate(string path)
    {
        if (TokenLifetimeDays is < 1 or > 3660 || SessionMinutes is < 1 or > 24 * 60 || ApprovalWindowMinutes is < 1 or > 7 * 24 * 60
            || ActivationHours is < 1 or > 30 * 24 || IssuancePerOperatorPerHour < 1 || IssuancePerOperatorPerDay < IssuancePerOperatorPerHour)
        {
            throw new InvalidDataException($"{path}: accounts settings out of range (tokenLifetimeDays 1–3660, sessionMinutes 1–1440, approvalWindowMinutes 1–10080, activationHours 1–720, issuancePerOperatorPerHour ≥ 1, issuancePerOperatorPerDay ≥ the hourly limit)");
        }
    }
}
