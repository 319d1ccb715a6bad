namespace Jpki.Kiosk;

/// <summary>A CA refusal as a sentence for the window, by its problem type.</summary>
public static class CaProblems
{
    public static string Explain(KioskText text, CaAnswer answer, string fallback)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(answer);
        return answer.Problem switch
        {
            "ca-unreachable" => text.CaUnreachable,
            // 503s that pass by themselves (decision 0252 and the HSM and store faults): the CA rolled back, nothing was issued.
            "storage-full" or "hsm-unavailable" or "store-unavailable" => text.CaCannotIssueNow,
            "unknown-resident" => text.UnknownResident,
            "resident-not-eligible" => text.NotEligible,
            "jukinet-unavailable" or "jukinet-protocol" => text.JukiNetDown,
            "municipality-not-bound" => text.NotBound,
            "forbidden" => text.RoleRefused,
            "unknown-municipality" => text.UnknownMunicipality,
            "under-15" => text.Under15,
            "not-the-holder" => text.NotTheHolder,
            "already-revoked" => text.AlreadyRevoked,
            "certificate-not-found" or "not-found" => text.CertificateNotFound,
            "resident-changed" => text.ResidentChanged,
            "renewal-revoked" or "renewal-expired" or "renewal-not-found" or "renewal-not-the-holder" or "renewal-kind-mismatch" => text.RenewalRefused,
            "account-locked" or "login-throttled" => text.LoginThrottled,
            // People at the window get a sentence, never a status code or problem type; the log has those.
            _ => fallback,
        };
    }

    /// <summary>The status a page answers with when the CA refused or could not be reached.</summary>
    public static int StatusOf(CaAnswer answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        return answer.Status == 0 ? 503 : answer.Status;
    }
}
