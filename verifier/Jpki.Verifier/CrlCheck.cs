using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;

namespace Jpki.Verifier;

/// <summary>
/// Status from CRL files: a complete CRL signed by the issuer key (name, authority key id,
/// signature) whose scope covers the certificate — no issuingDistributionPoint (the full CRL) or
/// one whose distributionPoint is the certificate's CRL DP byte for byte (the municipality
/// partition) and not onlyContainsCACerts — current at now; plus the newest delta of the same
/// scope based on it, if one is given.
/// </summary>
internal static class CrlCheck
{
    private sealed record Crl(X509Crl Value, BigInteger Number, BigInteger? BaseNumber, byte[]? ScopeDer, IssuingDistributionPoint? Idp);

    public static (CheckOutcome, RevocationInfo) Check(X509Certificate certificate, X509Certificate issuer, RevocationSource.Crls source, VerifierOptions options, DateTimeOffset now)
    {
        var problems = new List<string>();
        var usable = Usable(source, issuer, problems);
        var certificateDps = CertificateDistributionPoints(certificate);
        var complete = usable.Where(c => c.BaseNumber is null && Covers(c, certificateDps)).MaxBy(c => c.Number);
        if (complete is null)
        {
            return usable.Count == 0 && problems.Count > 0
                ? Fail(FailureReason.RevocationUnavailable, RevocationState.Unavailable, "no usable CRL: " + string.Join("; ", problems))
                : Fail(FailureReason.RevocationUnknown, RevocationState.Unknown, "no complete CRL given covers this certificate (the full CRL or its municipality partition is needed)" + (problems.Count > 0 ? ": " + string.Join("; ", problems) : ""));
        }

        var thisUpdate = new DateTimeOffset(complete.Value.ThisUpdate, TimeSpan.Zero);
        DateTimeOffset? nextUpdate = complete.Value.NextUpdate is { } n ? new DateTimeOffset(n, TimeSpan.Zero) : null;
        if (thisUpdate > now + options.ClockSkew)
        {
            return Fail(FailureReason.RevocationUnavailable, RevocationState.Unavailable, $"the CRL's thisUpdate {SignatureVerifier.Jst(thisUpdate)} is in the future");
        }

        if (nextUpdate is null || nextUpdate < now - options.ClockSkew)
        {
            return Fail(FailureReason.RevocationUnknown, RevocationState.Unknown, $"the CRL number {complete.Number} is stale (nextUpdate {(nextUpdate is { } x ? SignatureVerifier.Jst(x) : "absent")})");
        }

        var delta = usable
            .Where(d => d.BaseNumber is { } b && b.CompareTo(complete.Number) <= 0 && d.Number.CompareTo(complete.Number) > 0 && SameScope(d, complete))
            .Where(d => d.Value.NextUpdate is { } dn && new DateTimeOffset(dn, TimeSpan.Zero) >= now - options.ClockSkew)
            .MaxBy(d => d.Number);
        var used = $"CRL number {complete.Number}{(complete.Idp is null ? " (full)" : " (partition)")}, thisUpdate {SignatureVerifier.Jst(thisUpdate)}, nextUpdate {SignatureVerifier.Jst(nextUpdate.Value)}{(delta is null ? "" : $", delta number {delta.Number}")}";
        var entry = delta?.Value.GetRevokedCertificate(certificate.SerialNumber) ?? complete.Value.GetRevokedCertificate(certificate.SerialNumber);
        var info = new RevocationInfo(RevocationState.Good, "crl", ThisUpdate: thisUpdate, NextUpdate: nextUpdate);
        if (entry is null)
        {
            return (CheckOutcome.Pass(CheckKind.Revocation, "CRL: not listed (" + used + ")"), info);
        }

        var at = new DateTimeOffset(entry.RevocationDate, TimeSpan.Zero);
        var reasonValue = entry.GetExtensionValue(X509Extensions.ReasonCode);
        var reason = reasonValue is null ? "unspecified" : ReasonNames.Name(DerEnumerated.GetInstance(Asn1Object.FromByteArray(reasonValue.GetOctets())).IntValueExact);
        return (CheckOutcome.Fail(CheckKind.Revocation, FailureReason.Revoked, $"CRL: revoked at {SignatureVerifier.Jst(at)}, reason {reason} ({used})"),
            info with { State = RevocationState.Revoked, RevokedAt = at, Reason = reason });
    }

    /// <summary>The CRLs of <paramref name="source"/> that this issuer key signed, read; what was set aside goes to <paramref name="problems"/>.</summary>
    private static List<Crl> Usable(RevocationSource.Crls source, X509Certificate issuer, List<string> problems)
    {
        var usable = new List<Crl>();
        var issuerKeyId = TrustAnchors.SubjectKeyIdentifier(issuer);
        foreach (var encoded in source.Encoded)
        {
            IEnumerable<X509Crl> parsed;
            try
            {
                parsed = new X509CrlParser().ReadCrls(encoded).ToList();
            }
            catch (Exception e) when (e is IOException or ArgumentException or InvalidCastException or Org.BouncyCastle.Security.Certificates.CrlException)
            {
                problems.Add("a file is not a CRL: " + e.Message);
                continue;
            }

            foreach (var crl in parsed)
            {
                if (!crl.IssuerDN.Equivalent(issuer.SubjectDN))
                {
                    problems.Add($"a CRL of '{crl.IssuerDN}' (another issuer) is ignored");
                    continue;
                }

                var authorityKeyId = TrustAnchors.AuthorityKeyIdentifier(crl.GetExtensionValue(X509Extensions.AuthorityKeyIdentifier));
                if (authorityKeyId is not null && issuerKeyId is not null && !authorityKeyId.AsSpan().SequenceEqual(issuerKeyId))
                {
                    problems.Add("a CRL of another key generation of the issuer is ignored");
                    continue;
                }

                if (!IsSignatureValid(crl, issuer))
                {
                    problems.Add($"a CRL of '{crl.IssuerDN}' has a bad signature");
                    continue;
                }

                try
                {
                    usable.Add(Describe(crl));
                }
                catch (Exception e) when (e is ArgumentException or IOException or InvalidCastException or InvalidOperationException)
                {
                    problems.Add("a CRL has unreadable extensions: " + e.Message);
                }
            }
        }

        return usable;
    }

    private static bool IsSignatureValid(X509Crl crl, X509Certificate issuer)
    {
        try
        {
            crl.Verify(issuer.GetPublicKey());
            return true;
        }
        catch (Exception e) when (e is Org.BouncyCastle.Security.InvalidKeyException or Org.BouncyCastle.Security.SignatureException or Org.BouncyCastle.Security.Certificates.CrlException or ArgumentException)
        {
            return false;
        }
    }

    private static Crl Describe(X509Crl crl)
    {
        var numberValue = crl.GetExtensionValue(X509Extensions.CrlNumber);
        var number = numberValue is null ? BigInteger.Zero : DerInteger.GetInstance(Asn1Object.FromByteArray(numberValue.GetOctets())).Value;
        var baseValue = crl.GetExtensionValue(X509Extensions.DeltaCrlIndicator);
        var baseNumber = baseValue is null ? null : DerInteger.GetInstance(Asn1Object.FromByteArray(baseValue.GetOctets())).Value;
        var idpValue = crl.GetExtensionValue(X509Extensions.IssuingDistributionPoint);
        var idp = idpValue is null ? null : IssuingDistributionPoint.GetInstance(Asn1Object.FromByteArray(idpValue.GetOctets()));
        return new Crl(crl, number, baseNumber, idp?.DistributionPoint?.GetEncoded(Asn1Encodable.Der), idp);
    }

    private static List<byte[]> CertificateDistributionPoints(X509Certificate certificate)
    {
        var value = certificate.GetExtensionValue(X509Extensions.CrlDistributionPoints);
        if (value is null)
        {
            return [];
        }

        return CrlDistPoint.GetInstance(Asn1Object.FromByteArray(value.GetOctets())).GetDistributionPoints()
            .Where(dp => dp.DistributionPointName is not null)
            .Select(dp => dp.DistributionPointName.GetEncoded(Asn1Encodable.Der))
            .ToList();
    }

    private static bool Covers(Crl crl, List<byte[]> certificateDps)
    {
        if (crl.Idp is null)
        {
            return true;
        }

        if (crl.Idp.OnlyContainsCACerts || crl.Idp.OnlyContainsAttributeCerts || crl.Idp.OnlySomeReasons is not null || crl.Idp.IsIndirectCrl)
        {
            return false;
        }

        return crl.ScopeDer is null || certificateDps.Any(dp => dp.AsSpan().SequenceEqual(crl.ScopeDer));
    }

    private static bool SameScope(Crl delta, Crl complete) =>
        (delta.ScopeDer is null && complete.ScopeDer is null)
        || (delta.ScopeDer is not null && complete.ScopeDer is not null && delta.ScopeDer.AsSpan().SequenceEqual(complete.ScopeDer));

    private static (CheckOutcome, RevocationInfo) Fail(FailureReason reason, RevocationState state, string detail) =>
        (CheckOutcome.Fail(CheckKind.Revocation, reason, detail), new RevocationInfo(state, "crl"));
}
