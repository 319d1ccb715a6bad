using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using Jpki.Core.Profiles;

namespace Jpki.Core.Issuance;

// The lint rules of the extensions, their order and criticality, and the issuer-related ones (docs/jpki-profile.md §5).
public static partial class PreIssuanceLint
{
    private static string? CheckExtensionOrder(LintContext c)
    {
        var expected = JpkiOids.ExtensionsOf(c.Request.Kind).Select(e => e.Oid).ToList();
        var actual = c.Tbs.Extensions.Select(e => e.Oid).ToList();
        return expected.SequenceEqual(actual)
            ? null
            : $"extensions must be exactly [{string.Join(", ", expected)}] in that order, got [{string.Join(", ", actual)}]";
    }

    private static string? CheckExtensionCriticality(LintContext c)
    {
        foreach (var (oid, critical) in JpkiOids.ExtensionsOf(c.Request.Kind))
        {
            if (c.Tbs.Extension(oid) is { } extension && extension.Critical != critical)
            {
                return $"extension {oid} must be {(critical ? "critical" : "non-critical")}";
            }
        }

        // Anything else that is critical would make verifiers reject the certificate.
        var unexpected = c.Tbs.Extensions.FirstOrDefault(e => e.Critical && JpkiOids.ExtensionsOf(c.Request.Kind).All(p => p.Oid != e.Oid));
        return unexpected is null ? null : $"unexpected critical extension {unexpected.Oid}";
    }

    private static TbsExtension? Required(LintContext c, string oid, out string? missing)
    {
        var extension = c.Tbs.Extension(oid);
        missing = extension is null ? $"extension {oid} is absent" : null;
        return extension;
    }

    private static string? CheckKeyUsage(LintContext c)
    {
        if (Required(c, JpkiOids.KeyUsage, out var missing) is not { } extension)
        {
            return missing;
        }

        // Exactly the real certificates' bytes: digitalSignature + nonRepudiation / digitalSignature alone.
        byte[] expected = c.Signing ? [0x03, 0x02, 0x06, 0xC0] : [0x03, 0x02, 0x07, 0x80];
        return extension.Value.AsSpan().SequenceEqual(expected)
            ? null
            : $"keyUsage must be {TbsDer.Hex(expected)}, got {TbsDer.Hex(extension.Value)}";
    }

    private static string? CheckCertificatePolicies(LintContext c)
    {
        if (Required(c, JpkiOids.CertificatePolicies, out var missing) is not { } extension)
        {
            return missing;
        }

        var reader = new AsnReader(extension.Value, AsnEncodingRules.DER);
        var policies = reader.ReadSequence();
        reader.ThrowIfNotEmpty();
        var policy = policies.ReadSequence();
        if (policies.HasData)
        {
            return "exactly one policy is allowed";
        }

        var oid = policy.ReadObjectIdentifier();
        if (oid != JpkiOids.PolicyOf(c.Request.Kind))
        {
            return $"policy must be {JpkiOids.PolicyOf(c.Request.Kind)}, got {oid}";
        }

        if (!policy.HasData)
        {
            return "the policy has no CPS qualifier";
        }

        var qualifiers = policy.ReadSequence();
        policy.ThrowIfNotEmpty();
        var qualifier = qualifiers.ReadSequence();
        if (qualifiers.HasData)
        {
            return "exactly one policy qualifier (id-qt-cps) is allowed";
        }

        var qualifierId = qualifier.ReadObjectIdentifier();
        if (qualifierId != JpkiOids.IdQtCps)
        {
            return $"the policy qualifier must be id-qt-cps, got {qualifierId}";
        }

        var uri = qualifier.ReadCharacterString(UniversalTagNumber.IA5String);
        qualifier.ThrowIfNotEmpty();
        return uri == c.Request.CpsUrl ? null : $"CPS URI must be {c.Request.CpsUrl}, got {uri}";
    }

    // ---- issuer-related extensions ----

    private static string? CheckIssuerAltName(LintContext c)
    {
        if (Required(c, JpkiOids.IssuerAltName, out var missing) is not { } extension)
        {
            return missing;
        }

        if (c.Issuer.SubjectAltNameValue is not { } rootSan)
        {
            return "the issuer certificate has no subjectAltName to copy";
        }

        return extension.Value.AsSpan().SequenceEqual(rootSan) ? null : "issuerAltName must equal the issuer certificate's subjectAltName";
    }

    private static string? CheckCrlDistributionPoints(LintContext c)
    {
        if (Required(c, JpkiOids.CrlDistributionPoints, out var missing) is not { } extension)
        {
            return missing;
        }

        var reader = new AsnReader(extension.Value, AsnEncodingRules.DER);
        var points = reader.ReadSequence();
        reader.ThrowIfNotEmpty();
        var point = points.ReadSequence();
        if (points.HasData)
        {
            return "exactly one distribution point is allowed";
        }

        // DistributionPoint { distributionPoint [0] { fullName [0] GeneralNames } } with no reasons or cRLIssuer.
        var name = point.ReadSequence(Context0Constructed);
        point.ThrowIfNotEmpty();
        var fullName = name.ReadSequence(Context0Constructed);
        name.ThrowIfNotEmpty();

        var tags = new List<Asn1Tag>();
        var probe = fullName.Clone();
        while (probe.HasData)
        {
            tags.Add(probe.PeekTag());
            probe.ReadEncodedValue();
        }

        if (tags.Count != 2 || !tags[0].HasSameClassAndValue(DirectoryNameTag) || !tags[1].HasSameClassAndValue(UriTag))
        {
            return $"fullName must hold exactly the partition directoryName and then its URI, got {tags.Count} names [{string.Join(", ", tags)}]";
        }

        var directory = fullName.ReadSequence(DirectoryNameTag);
        var partition = TbsDer.ParseName(directory.ReadEncodedValue());
        directory.ThrowIfNotEmpty();
        var uri = fullName.ReadCharacterString(UniversalTagNumber.IA5String, UriTag);

        IReadOnlyList<DerNameValue> expected =
        [
            new(JpkiOids.CountryName, UniversalTagNumber.PrintableString, "JP"),
            new(JpkiOids.OrganizationName, UniversalTagNumber.UTF8String, "JPKI"),
            new(JpkiOids.OrganizationalUnitName, UniversalTagNumber.UTF8String, JpkiNames.KindUnit(c.Request.Kind)),
            new(JpkiOids.OrganizationalUnitName, UniversalTagNumber.UTF8String, EndEntityTbsBuilder.CrlDistributionPointsUnit),
            new(JpkiOids.OrganizationalUnitName, UniversalTagNumber.UTF8String, c.Request.Prefecture.RomanisedName),
            new(JpkiOids.CommonName, UniversalTagNumber.UTF8String, $"{c.Request.MunicipalityName} CRLDP"),
        ];
        if (!partition.SequenceEqual(expected))
        {
            return $"partition directoryName must be [{string.Join(", ", expected.Select(e => e.Value))}], got [{string.Join(", ", partition.Select(e => e.Value))}]";
        }

        var expectedUri = c.Request.CrlUrl;
        return uri == expectedUri ? null : $"CRL URI must be {expectedUri}, got {uri}";
    }

    private static string? CheckAuthorityKeyIdentifier(LintContext c)
    {
        if (Required(c, JpkiOids.AuthorityKeyIdentifier, out var missing) is not { } extension)
        {
            return missing;
        }

        var reader = new AsnReader(extension.Value, AsnEncodingRules.DER);
        var aki = reader.ReadSequence();
        reader.ThrowIfNotEmpty();
        var keyIdentifier = aki.ReadOctetString(Context0Primitive);
        if (aki.HasData)
        {
            return "AKI must hold the keyIdentifier only";
        }

        return keyIdentifier.AsSpan().SequenceEqual(c.Issuer.KeyIdentifier) ? null : "AKI keyIdentifier must be the issuer's subjectKeyIdentifier";
    }

    private static string? CheckAuthorityInfoAccess(LintContext c)
    {
        if (Required(c, JpkiOids.AuthorityInfoAccess, out var missing) is not { } extension)
        {
            return missing;
        }

        var reader = new AsnReader(extension.Value, AsnEncodingRules.DER);
        var descriptions = reader.ReadSequence();
        reader.ThrowIfNotEmpty();
        var description = descriptions.ReadSequence();
        if (descriptions.HasData)
        {
            return "exactly one access description (OCSP) is allowed";
        }

        var method = description.ReadObjectIdentifier();
        if (method != JpkiOids.IdAdOcsp)
        {
            return $"access method must be id-ad-ocsp, got {method}";
        }

        var uri = description.ReadCharacterString(UniversalTagNumber.IA5String, UriTag);
        description.ThrowIfNotEmpty();
        return uri == c.Request.OcspUrl ? null : $"OCSP URI must be {c.Request.OcspUrl}, got {uri}";
    }

    private static string? CheckSubjectKeyIdentifier(LintContext c)
    {
        if (Required(c, JpkiOids.SubjectKeyIdentifier, out var missing) is not { } extension)
        {
            return missing;
        }

        var reader = new AsnReader(extension.Value, AsnEncodingRules.DER);
        var value = reader.ReadOctetString();
        reader.ThrowIfNotEmpty();
        var spki = new AsnReader(c.Tbs.SubjectPublicKeyInfoDer, AsnEncodingRules.DER).ReadSequence();
        spki.ReadSequence();
        var expected = IssuerView.KeyIdentifierOf(spki.ReadBitString(out _));
        return value.AsSpan().SequenceEqual(expected) ? null : "SKI must be the SHA-1 of the subjectPublicKey";
    }

    private static string? CheckSubjectKeyIdentifierLast(LintContext c) =>
        c.Tbs.Extensions.Count > 0 && c.Tbs.Extensions[^1].Oid == JpkiOids.SubjectKeyIdentifier ? null : "subjectKeyIdentifier must be the last extension";
}
