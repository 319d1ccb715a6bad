using System.Collections.Immutable;
using System.Globalization;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace Jpki.Verifier;

/// <summary>The certificate checks: the chain to a configured root, validity, key usage and policy.</summary>
public static partial class SignatureVerifier
{
    private static (CheckOutcome, X509Certificate?) CheckChain(X509Certificate signer, ImmutableArray<X509Certificate> roots)
    {
        var named = roots.Where(r => r.SubjectDN.Equivalent(signer.IssuerDN)).ToList();
        if (named.Count == 0)
        {
            return (CheckOutcome.Fail(CheckKind.Chain, FailureReason.UntrustedChain, $"no configured root is named '{signer.IssuerDN}' ({roots.Length} roots configured)"), null);
        }

        var authorityKeyId = TrustAnchors.AuthorityKeyIdentifier(signer.GetExtensionValue(X509Extensions.AuthorityKeyIdentifier));
        foreach (var root in named)
        {
            var subjectKeyId = TrustAnchors.SubjectKeyIdentifier(root);
            if (authorityKeyId is not null && subjectKeyId is not null && !authorityKeyId.AsSpan().SequenceEqual(subjectKeyId))
            {
                continue;
            }

            if (SignedBy(signer, root))
            {
                return (CheckOutcome.Pass(CheckKind.Chain, $"issued by the configured root '{root.SubjectDN}' (key id {(subjectKeyId is null ? "-" : Convert.ToHexString(subjectKeyId))})"), root);
            }
        }

        var detail = authorityKeyId is null ? "" : $" (authority key id {Convert.ToHexString(authorityKeyId)})";
        return (CheckOutcome.Fail(CheckKind.Chain, FailureReason.WrongIssuer, $"a configured root is named '{signer.IssuerDN}' but none of its keys signed this certificate{detail}"), null);
    }

    /// <summary>Whether <paramref name="root"/>'s key signed <paramref name="signer"/>; a certificate BouncyCastle cannot check (its two signature algorithms differ, a malformed key) is not signed by it.</summary>
    private static bool SignedBy(X509Certificate signer, X509Certificate root)
    {
        try
        {
            return signer.IsSignatureValid(root.GetPublicKey());
        }
        catch (Exception e) when (IsParseFailure(e))
        {
            return false;
        }
    }

    private static CheckOutcome CheckValidity(X509Certificate signer, X509Certificate? root, DateTimeOffset at)
    {
        foreach (var (certificate, what) in new[] { (signer, "the signer certificate"), (root, "the root") })
        {
            if (certificate is null)
            {
                continue;
            }

            var notBefore = new DateTimeOffset(certificate.NotBefore, TimeSpan.Zero);
            var notAfter = new DateTimeOffset(certificate.NotAfter, TimeSpan.Zero);
            if (at < notBefore)
            {
                return CheckOutcome.Fail(CheckKind.Validity, FailureReason.NotYetValid, $"{what} is valid from {Jst(notBefore)}; the validation time is {Jst(at)}");
            }

            if (at > notAfter)
            {
                return CheckOutcome.Fail(CheckKind.Validity, FailureReason.Expired, $"{what} expired at {Jst(notAfter)}; the validation time is {Jst(at)}");
            }
        }

        return CheckOutcome.Pass(CheckKind.Validity, $"valid at {Jst(at)} (until {Jst(new DateTimeOffset(signer.NotAfter, TimeSpan.Zero))})");
    }

    private static CheckOutcome CheckKeyUsage(X509Certificate signer, CertificateProfile profile)
    {
        var critical = signer.GetCriticalExtensionOids() ?? new HashSet<string>();
        var unknown = critical.Where(oid => !KnownCriticalExtensions.Contains(oid)).ToList();
        if (unknown.Count > 0)
        {
            return CheckOutcome.Fail(CheckKind.KeyUsage, FailureReason.UnrecognizedCriticalExtension, "unrecognised critical extension(s): " + string.Join(", ", unknown));
        }

        var usage = signer.GetKeyUsage();
        if (usage is null)
        {
            return CheckOutcome.Fail(CheckKind.KeyUsage, FailureReason.WrongKeyUsage, $"no keyUsage extension ({profile.KeyUsageText} expected)");
        }

        string[] names = ["digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"];
        var present = string.Join(" + ", names.Where((_, i) => i < usage.Length && usage[i]));
        if (Enumerable.Range(0, Math.Max(usage.Length, profile.KeyUsage.Length)).Any(i => (i < usage.Length && usage[i]) != (i < profile.KeyUsage.Length && profile.KeyUsage[i])))
        {
            return CheckOutcome.Fail(CheckKind.KeyUsage, FailureReason.WrongKeyUsage, $"keyUsage is {present} (a JPKI {profile.Name} certificate has exactly {profile.KeyUsageText})");
        }

        return CheckOutcome.Pass(CheckKind.KeyUsage, $"keyUsage {present}{(critical.Contains(X509Extensions.KeyUsage.Id) ? " (critical)" : "")}");
    }

    private static CheckOutcome CheckPolicy(X509Certificate signer, ImmutableArray<string> accepted)
    {
        var value = signer.GetExtensionValue(X509Extensions.CertificatePolicies);
        if (value is null)
        {
            return CheckOutcome.Fail(CheckKind.Policy, FailureReason.PolicyNotAccepted, "no certificatePolicies extension");
        }

        var critical = signer.GetCriticalExtensionOids()?.Contains(X509Extensions.CertificatePolicies.Id) == true;
        CertificatePolicies policies;
        try
        {
            policies = CertificatePolicies.GetInstance(Asn1Object.FromByteArray(value.GetOctets()));
        }
        catch (Exception e) when (IsParseFailure(e))
        {
            return CheckOutcome.Fail(CheckKind.Policy, FailureReason.PolicyNotAccepted, "certificatePolicies cannot be read: " + e.Message);
        }

        // The sequence's elements are parsed lazily, as they are enumerated (found by ./jpki fuzz
        // verifier-cms: a malformed policy qualifier escaped as ArgumentException).
        try
        {
            foreach (var policy in policies.GetPolicyInformation())
            {
                if (accepted.Contains(policy.PolicyIdentifier.Id))
                {
                    var cps = policy.PolicyQualifiers?.OfType<Asn1Encodable>().Select(PolicyQualifierInfo.GetInstance)
                        .FirstOrDefault(q => q.PolicyQualifierId.Equals(PolicyQualifierID.IdQtCps))?.Qualifier.ToString();
                    return CheckOutcome.Pass(CheckKind.Policy, $"policy {policy.PolicyIdentifier.Id}{(critical ? " (critical)" : "")}{(cps is null ? "" : ", CPS " + cps)}");
                }
            }

            var found = string.Join(", ", policies.GetPolicyInformation().Select(p => p.PolicyIdentifier.Id));
            return CheckOutcome.Fail(CheckKind.Policy, FailureReason.PolicyNotAccepted, $"policies {found} — none accepted ({string.Join(", ", accepted)})");
        }
        catch (Exception e) when (IsParseFailure(e))
        {
            return CheckOutcome.Fail(CheckKind.Policy, FailureReason.PolicyNotAccepted, "certificatePolicies cannot be read: " + e.Message);
        }
    }
}
