using System.Text.Json;

namespace Jpki.Kiosk;

/// <summary>
/// The CA's answer to a lookup as the window uses it: the facts, the record's sequence, and what
/// the CA says may be issued for each kind (<c>eligibility</c>, decided by the registration
/// authority's own rules: status, municipality, age). The kiosk decides none of it; it only
/// refuses early what the issuance would refuse after the keys were made on a card.
/// </summary>
/// <param name="Status">Juki-Net's status as the CA writes it (<c>registered</c>, <c>movedOut</c>, <c>deceased</c>, <c>deleted</c>).</param>
/// <param name="AuthenticationRefusal">The problem type (last segment) refusing an authentication certificate, or null.</param>
/// <param name="SigningRefusal">The problem type refusing a signing certificate, or null.</param>
public sealed record ResidentLookup(ResidentFacts Facts, long Sequence, string Status, string? AuthenticationRefusal, string? SigningRefusal)
{
    /// <summary>The problem type an officer's override lifts (a signing certificate under the minimum age).</summary>
    public const string Under15Problem = "under-15";

    /// <summary>Why nothing may be issued for this resident, or null: every enrolment needs the authentication certificate.</summary>
    public string? Refusal => AuthenticationRefusal ?? (SigningRefusal is { } signing && signing != Under15Problem ? signing : null);

    /// <summary>The signing certificate needs the operator's recorded reason.</summary>
    public bool Under15 => SigningRefusal == Under15Problem;

    /// <summary>The lookup of a successful answer; null when it lacks a member the window needs (then nothing is done).</summary>
    public static ResidentLookup? From(CaAnswer answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        var body = answer.Body;
        if (body.ValueKind != JsonValueKind.Object
            || !body.TryGetProperty("eligibility", out var eligibility) || eligibility.ValueKind != JsonValueKind.Object
            || !body.TryGetProperty("sequence", out var sequence) || sequence.ValueKind != JsonValueKind.Number
            || !body.TryGetProperty("sex", out var sex) || sex.ValueKind != JsonValueKind.Number
            || RefusalOf(eligibility, "authentication") is not { } authentication
            || RefusalOf(eligibility, "signing") is not { } signing)
        {
            return null;
        }

        var facts = new ResidentFacts(
            answer.Member("name") ?? "",
            answer.Member("dateOfBirth") ?? "",
            sex.GetInt32(),
            answer.Member("address") ?? "",
            answer.Member("municipalityName") ?? answer.Member("municipalityCode") ?? "",
            answer.Member("municipalityCode"),
            answer.Member("municipalityNameJa"));
        return new ResidentLookup(facts, sequence.GetInt64(), answer.Member("status") ?? "", authentication.Problem, signing.Problem);
    }

    /// <summary>One kind's verdict: a box holding the refusal's problem type, or null (not a box) when the member is unreadable.</summary>
    private static Verdict? RefusalOf(JsonElement eligibility, string kind)
    {
        if (!eligibility.TryGetProperty(kind, out var verdict) || verdict.ValueKind != JsonValueKind.Object
            || !verdict.TryGetProperty("eligible", out var eligible) || eligible.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            return null;
        }

        if (eligible.GetBoolean())
        {
            return new Verdict(null);
        }

        // A refusal without a readable type is still a refusal.
        var type = verdict.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
        return new Verdict(type.Length > 0 ? type[(type.LastIndexOf(':') + 1)..] : "not-eligible");
    }

    private sealed record Verdict(string? Problem);
}
