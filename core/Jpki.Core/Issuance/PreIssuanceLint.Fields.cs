using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using Jpki.Core.Profiles;

namespace Jpki.Core.Issuance;

// The lint rules of the basic fields, the subject and the key (docs/jpki-profile.md §3).
public static partial class PreIssuanceLint
{
    private static string? CheckVersion(LintContext c)
    {
        if (c.Tbs.VersionValue != 2)
        {
            return $"version must be v3 (2), got {(c.Tbs.VersionValue is null ? "absent (v1)" : c.Tbs.VersionValue.ToString())}";
        }

        return c.Tbs.HasUniqueIds ? "issuer/subject unique identifiers are not part of the profile" : null;
    }

    private static string? CheckSignatureAlgorithm(LintContext c)
    {
        if (c.Tbs.SignatureOid != JpkiOids.Sha256WithRsaEncryption)
        {
            return $"signature must be sha256WithRSAEncryption, got {c.Tbs.SignatureOid}";
        }

        return c.Tbs.SignatureParameters is { } p && p.AsSpan().SequenceEqual(DerNull)
            ? null
            : "sha256WithRSAEncryption parameters must be NULL (RFC 4055)";
    }

    private static string? CheckSerialNumber(LintContext c)
    {
        var content = c.Tbs.SerialContent;
        var value = new BigInteger(content, isUnsigned: false, isBigEndian: true);
        if (value.Sign <= 0)
        {
            return "serial must be positive";
        }

        if (content.Length > 20)
        {
            return $"serial has {content.Length} octets, more than 20";
        }

        if (value.GetBitLength() < 64)
        {
            return $"serial has {value.GetBitLength()} bits, fewer than 64";
        }

        var expected = c.Request.SerialNumber.ToByteArray();
        return content.AsSpan().SequenceEqual(expected) ? null : "serial differs from the request's";
    }

    private static string? CheckIssuerName(LintContext c) =>
        c.Tbs.IssuerDer.AsSpan().SequenceEqual(c.Issuer.SubjectDer) ? null : "issuer must be the issuer certificate's subject, byte for byte";

    private static string? CheckUtcTime(LintContext c) =>
        c.Tbs.NotBeforeTag.HasSameClassAndValue(Asn1Tag.UtcTime) && c.Tbs.NotAfterTag.HasSameClassAndValue(Asn1Tag.UtcTime)
            ? null
            : "notBefore and notAfter must both be UTCTime";

    private static string? CheckEndOfJstDay(LintContext c)
    {
        var notAfter = c.Tbs.NotAfter.ToUniversalTime();
        return notAfter.TimeOfDay == new TimeSpan(14, 59, 59) ? null : $"notAfter {notAfter:u} is not 23:59:59 JST (14:59:59Z)";
    }

    private static string? CheckValidityMatchesRequest(LintContext c)
    {
        if (c.Tbs.NotBefore != c.Request.Validity.NotBefore || c.Tbs.NotAfter != c.Request.Validity.NotAfter)
        {
            return $"validity {c.Tbs.NotBefore:u}–{c.Tbs.NotAfter:u} differs from the computed {c.Request.Validity.NotBefore:u}–{c.Request.Validity.NotAfter:u}";
        }

        return c.Tbs.NotBefore < c.Tbs.NotAfter ? null : "notBefore must be before notAfter";
    }

    private static string? CheckValidityWithinIssuer(LintContext c) =>
        c.Tbs.NotBefore >= c.Issuer.NotBefore && c.Tbs.NotAfter <= c.Issuer.NotAfter
            ? null
            : $"validity {c.Tbs.NotBefore:u}–{c.Tbs.NotAfter:u} leaves the issuer's {c.Issuer.NotBefore:u}–{c.Issuer.NotAfter:u}";

    // ---- subject and key ----

    private static IReadOnlyList<DerNameValue> ExpectedSubject(EndEntityRequest request) => request.Kind == IssuerKind.Signing
        ?
        [
            new(JpkiOids.CountryName, UniversalTagNumber.PrintableString, "JP"),
            new(JpkiOids.LocalityName, UniversalTagNumber.UTF8String, request.Prefecture.RomanisedName),
            new(JpkiOids.LocalityName, UniversalTagNumber.UTF8String, request.MunicipalityName),
            new(JpkiOids.CommonName, UniversalTagNumber.UTF8String, request.SubjectId),
        ]
        :
        [
            new(JpkiOids.CountryName, UniversalTagNumber.PrintableString, "JP"),
            new(JpkiOids.CommonName, UniversalTagNumber.UTF8String, request.SubjectId),
        ];

    private static string? CheckSubjectName(LintContext c)
    {
        var actual = TbsDer.ParseName(c.Tbs.SubjectDer);
        var expected = ExpectedSubject(c.Request);
        var shape = string.Join(", ", actual.Select(a => $"{a.Oid}={a.Value}"));
        if (actual.Count != expected.Count)
        {
            return $"subject must have {expected.Count} attributes, got [{shape}]";
        }

        for (var i = 0; i < expected.Count; i++)
        {
            if (actual[i].Oid != expected[i].Oid || actual[i].Value != expected[i].Value)
            {
                return $"subject attribute {i + 1} must be {expected[i].Oid}={expected[i].Value}, got {actual[i].Oid}={actual[i].Value}";
            }
        }

        return null;
    }

    private static string? CheckSubjectStringTypes(LintContext c)
    {
        foreach (var attribute in TbsDer.ParseName(c.Tbs.SubjectDer))
        {
            var expected = attribute.Oid == JpkiOids.CountryName ? UniversalTagNumber.PrintableString : UniversalTagNumber.UTF8String;
            if (attribute.StringTag != expected)
            {
                return $"subject {attribute.Oid} must be {expected}, got {attribute.StringTag}";
            }
        }

        return null;
    }

    private static string? CheckSubjectId(LintContext c)
    {
        var cn = TbsDer.ParseName(c.Tbs.SubjectDer).LastOrDefault(a => a.Oid == JpkiOids.CommonName)?.Value;
        var ok = c.Signing ? SubjectIds.IsIssuanceId(cn) : SubjectIds.IsAuthenticationId(cn);
        return ok ? null : c.Signing
            ? $"CN must be an issuance id (yyyyMMddHHmmss + 5 digits + 9-character window id), got '{cn}'"
            : $"CN must be a 23-character opaque id, got '{cn}'";
    }

    private static string? CheckPublicKey(LintContext c)
    {
        var spki = new AsnReader(c.Tbs.SubjectPublicKeyInfoDer, AsnEncodingRules.DER).ReadSequence();
        var algorithm = spki.ReadSequence();
        var oid = algorithm.ReadObjectIdentifier();
        if (oid != JpkiOids.RsaEncryption)
        {
            return $"key must be RSA, got {oid}";
        }

        if (!algorithm.HasData || !algorithm.ReadEncodedValue().Span.SequenceEqual(DerNull) || algorithm.HasData)
        {
            return "rsaEncryption parameters must be NULL";
        }

        var rsa = new AsnReader(spki.ReadBitString(out var unused), AsnEncodingRules.DER).ReadSequence();
        if (unused != 0)
        {
            return "subjectPublicKey has unused bits";
        }

        var modulus = rsa.ReadInteger();
        var exponent = rsa.ReadInteger();
        rsa.ThrowIfNotEmpty();
        if (modulus.Sign <= 0 || modulus.GetBitLength() != 2048)
        {
            return $"RSA modulus must be 2048 bits, got {modulus.GetBitLength()}";
        }

        return exponent == 65537 ? null : $"RSA exponent must be 65537, got {exponent}";
    }

    private static string? CheckPublicKeyMatchesRequest(LintContext c) =>
        c.Tbs.SubjectPublicKeyInfoDer.AsSpan().SequenceEqual(c.Request.SubjectPublicKeyInfo) ? null : "subject public key differs from the request's";
}
