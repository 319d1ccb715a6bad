using System.Collections.Immutable;

namespace Jpki.Verifier;

/// <summary>
/// What the certificate behind a signature must be (docs/jpki-profile.md §3, §5): a signing certificate
/// (digitalSignature + nonRepudiation, the signing policy, the four facts) or a user-authentication
/// certificate (digitalSignature only, the authentication policy, no four facts). The one path of
/// certificate checks takes it, so a login cannot be made with a signing certificate nor a
/// document signed with an authentication one.
/// </summary>
internal sealed record CertificateProfile(string Name, ImmutableArray<bool> KeyUsage, string KeyUsageText, ImmutableArray<string> AcceptedPolicies, bool FactsRequired)
{
    public static CertificateProfile Signing(VerifierOptions options) =>
        new("signing", [true, true], "digitalSignature + nonRepudiation", options.AcceptedPolicies, FactsRequired: true);

    public static CertificateProfile Authentication(ImmutableArray<string> policies) =>
        new("user-authentication", [true], "digitalSignature", policies, FactsRequired: false);
}
