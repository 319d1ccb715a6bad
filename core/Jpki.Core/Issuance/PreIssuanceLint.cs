using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using Jpki.Core.Profiles;

namespace Jpki.Core.Issuance;

/// <summary>One broken profile rule: the rule's name and what was wrong.</summary>
public sealed record LintFinding(string Rule, string Message)
{
    public override string ToString() => $"{Rule}: {Message}";
}

/// <summary>The lint found the TBSCertificate off-profile; nothing was signed.</summary>
public sealed class LintException : Exception
{
    public LintException(IReadOnlyList<LintFinding> findings)
        : base($"pre-issuance lint failed ({findings.Count}): {string.Join("; ", findings)}")
    {
        Findings = findings;
    }

    public IReadOnlyList<LintFinding> Findings { get; }
}

/// <summary>
/// Checks a TBSCertificate against docs/jpki-profile.md §3–5 before it is signed (as Boulder lints
/// before issuance), one named rule per profile row. It parses the DER with System.Formats.Asn1
/// only, independent of the BouncyCastle code that built it, and takes the expected values from
/// the request and the issuer certificate (also parsed here), not from the builder.
/// </summary>
public static class PreIssuanceLint
{
    public const string TbsStructure = "tbs-structure";
    public const string Version = "version-v3";
    public const string SignatureAlgorithm = "signature-algorithm";
    public const string SerialNumber = "serial-number";
    public const string IssuerName = "issuer-name";
    public const string ValidityUtcTime = "validity-utctime";
    public const string ValidityEndOfJstDay = "validity-end-of-jst-day";
    public const string ValidityMatchesRequest = "validity-matches-request";
    public const string ValidityWithinIssuer = "validity-within-issuer";
    public const string SubjectName = "subject-name";
    public const string SubjectStringTypes = "subject-string-types";
    public const string SubjectId = "subject-id-shape";
    public const string PublicKey = "public-key-rsa-2048";
    public const string PublicKeyMatchesRequest = "public-key-matches-request";
    public const string ExtensionOrder = "extension-order";
    public const string ExtensionCriticality = "extension-criticality";
    public const string KeyUsage = "key-usage";
    public const string CertificatePolicies = "certificate-policies";
    public const string SanOtherNames = "san-other-names";
    public const string SanNameSubstitutes = "san-name-substitutes";
    public const string SanAddressSubstitutes = "san-address-substitutes";
    public const string SanDateOfBirth = "san-date-of-birth";
    public const string SanSex = "san-sex";
    public const string SanAddress = "san-address";
    public const string SanMatchesFacts = "san-matches-facts";
    public const string IssuerAltName = "issuer-alt-name";
    public const string CrlDistributionPoints = "crl-distribution-points";
    public const string AuthorityKeyIdentifier = "authority-key-identifier";
    public const string AuthorityInfoAccess = "authority-info-access";
    public const string SubjectKeyIdentifier = "subject-key-identifier";
    public const string SubjectKeyIdentifierLast = "subject-key-identifier-last";

    private static readonly Asn1Tag Context0Constructed = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag Context0Primitive = new(TagClass.ContextSpecific, 0);
    private static readonly Asn1Tag DirectoryNameTag = new(TagClass.ContextSpecific, 4, isConstructed: true);
    private static readonly Asn1Tag UriTag = new(TagClass.ContextSpecific, 6);
    private static readonly byte[] DerNull = [0x05, 0x00];

    private delegate string? Rule(LintContext context);

    /// <summary>Every rule by name, in the order they run.</summary>
    private static readonly (string Name, Rule Check)[] Rules =
    [
        (Version, CheckVersion),
        (SignatureAlgorithm, CheckSignatureAlgorithm),
        (SerialNumber, CheckSerialNumber),
        (IssuerName, CheckIssuerName),
        (ValidityUtcTime, CheckUtcTime),
        (ValidityEndOfJstDay, CheckEndOfJstDay),
        (ValidityMatchesRequest, CheckValidityMatchesRequest),
        (ValidityWithinIssuer, CheckValidityWithinIssuer),
        (SubjectName, CheckSubjectName),
        (SubjectStringTypes, CheckSubjectStringTypes),
        (SubjectId, CheckSubjectId),
        (PublicKey, CheckPublicKey),
        (PublicKeyMatchesRequest, CheckPublicKeyMatchesRequest),
        (ExtensionOrder, CheckExtensionOrder),
        (ExtensionCriticality, CheckExtensionCriticality),
        (KeyUsage, CheckKeyUsage),
        (CertificatePolicies, CheckCertificatePolicies),
        (SanOtherNames, CheckSanOtherNames),
        (SanNameSubstitutes, CheckSanNameSubstitutes),
        (SanAddressSubstitutes, CheckSanAddressSubstitutes),
        (SanDateOfBirth, CheckSanDateOfBirth),
        (SanSex, CheckSanSex),
        (SanAddress, CheckSanAddress),
        (SanMatchesFacts, CheckSanMatchesFacts),
        (IssuerAltName, CheckIssuerAltName),
        (CrlDistributionPoints, CheckCrlDistributionPoints),
        (AuthorityKeyIdentifier, CheckAuthorityKeyIdentifier),
        (AuthorityInfoAccess, CheckAuthorityInfoAccess),
        (SubjectKeyIdentifier, CheckSubjectKeyIdentifier),
        (SubjectKeyIdentifierLast, CheckSubjectKeyIdentifierLast),
    ];

    /// <summary>Names of all rules (plus <see cref="TbsStructure"/>, reported when the DER cannot be taken apart at all).</summary>
    public static IReadOnlyList<string> RuleNames { get; } = [TbsStructure, .. Rules.Select(r => r.Name)];

    /// <summary>Runs every rule; an empty list means the TBS may be signed.</summary>
    /// <exception cref="ArgumentException">The request is invalid or its issuer certificate cannot be parsed.</exception>
    public static IReadOnlyList<LintFinding> Check(ReadOnlyMemory<byte> tbsDer, EndEntityRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var issuer = IssuerView.Parse(request.IssuerCertificate);

        TbsDer tbs;
        try
        {
            tbs = new TbsDer(tbsDer);
        }
        catch (AsnContentException e)
        {
            return [new LintFinding(TbsStructure, $"not a DER TBSCertificate: {e.Message}")];
        }

        var context = new LintContext(tbs, request, issuer);
        var findings = new List<LintFinding>();
        foreach (var (name, check) in Rules)
        {
            string? message;
            try
            {
                message = check(context);
            }
            catch (Exception e) when (e is AsnContentException or FormatException or ArgumentException or CryptographicException)
            {
                // A field a rule cannot even parse breaks that rule.
                message = $"malformed: {e.Message}";
            }

            if (message is not null)
            {
                findings.Add(new LintFinding(name, message));
            }
        }

        return findings;
    }

    /// <summary>Runs <see cref="Check"/> and throws when anything was found.</summary>
    /// <exception cref="LintException">The findings.</exception>
    public static void Enforce(ReadOnlyMemory<byte> tbsDer, EndEntityRequest request)
    {
        var findings = Check(tbsDer, request);
        if (findings.Count > 0)
        {
            throw new LintException(findings);
        }
    }

    private sealed record LintContext(TbsDer Tbs, EndEntityRequest Request, IssuerView Issuer)
    {
        public bool Signing => Request.Kind == IssuerKind.Signing;
    }

    // ---- basic fields ----

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

    // ---- extensions ----

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

    // ---- subjectAltName: the four facts ----

    /// <summary>The otherNames of the SAN in order, or null when the SAN is absent.</summary>
    private static List<(string Oid, string Value)>? OtherNames(LintContext c)
    {
        if (c.Tbs.Extension(JpkiOids.SubjectAltName) is not { } extension)
        {
            return null;
        }

        var reader = new AsnReader(extension.Value, AsnEncodingRules.DER);
        var names = reader.ReadSequence();
        reader.ThrowIfNotEmpty();
        var result = new List<(string, string)>();
        while (names.HasData)
        {
            var tag = names.PeekTag();
            if (!tag.HasSameClassAndValue(Context0Constructed))
            {
                throw new AsnContentException($"every subjectAltName entry must be an otherName, got {tag}");
            }

            var otherName = names.ReadSequence(Context0Constructed);
            var oid = otherName.ReadObjectIdentifier();
            var value = otherName.ReadSequence(Context0Constructed);
            otherName.ThrowIfNotEmpty();
            var text = value.ReadCharacterString(UniversalTagNumber.UTF8String);
            value.ThrowIfNotEmpty();
            result.Add((oid, text));
        }

        return result;
    }

    private static string? Fact(LintContext c, string oid) => OtherNames(c)?.FirstOrDefault(n => n.Oid == oid).Value;

    private static string? CheckSanOtherNames(LintContext c)
    {
        if (!c.Signing)
        {
            return null; // absence is the extension-order rule's business
        }

        var names = OtherNames(c);
        if (names is null)
        {
            return "a signing certificate must carry the four facts in subjectAltName";
        }

        var order = names.Select(n => n.Oid).ToList();
        return order.SequenceEqual(JpkiOids.SubjectAltNameOrder)
            ? null
            : $"otherNames must be [{string.Join(", ", JpkiOids.SubjectAltNameOrder)}], got [{string.Join(", ", order)}]";
    }

    private static string? CheckSubstitutes(LintContext c, string textOid, string flagsOid, string what)
    {
        if (!c.Signing || Fact(c, textOid) is not { } text || Fact(c, flagsOid) is not { } flags)
        {
            return null;
        }

        return ResidentFacts.IsSubstituteString(flags, text)
            ? null
            : $"{what} substitute flags must be one 0/1 per character ({ResidentFacts.CharacterCount(text)}), got '{flags}'";
    }

    private static string? CheckSanNameSubstitutes(LintContext c) => CheckSubstitutes(c, JpkiOids.Name, JpkiOids.NameSubstitutes, "name");

    private static string? CheckSanAddressSubstitutes(LintContext c) => CheckSubstitutes(c, JpkiOids.Address, JpkiOids.AddressSubstitutes, "address");

    private static string? CheckSanDateOfBirth(LintContext c)
    {
        if (!c.Signing || Fact(c, JpkiOids.DateOfBirth) is not { } text)
        {
            return null;
        }

        try
        {
            JpkiBirthDate.Parse(text);
            return null;
        }
        catch (FormatException e)
        {
            return e.Message;
        }
    }

    private static string? CheckSanSex(LintContext c) =>
        !c.Signing || Fact(c, JpkiOids.Sex) is not { } sex || sex is "1" or "2" or "3" ? null : $"sex must be 1, 2 or 3, got '{sex}'";

    private static string? CheckSanAddress(LintContext c)
    {
        if (!c.Signing || Fact(c, JpkiOids.Address) is not { } address)
        {
            return null;
        }

        if (ResidentFacts.CharacterCount(address) > ResidentFacts.MaxAddressLength)
        {
            return $"address has {ResidentFacts.CharacterCount(address)} characters, more than {ResidentFacts.MaxAddressLength}";
        }

        return address.StartsWith(c.Request.Prefecture.KanjiName, StringComparison.Ordinal)
            ? null
            : $"address must start with the prefecture {c.Request.Prefecture.KanjiName}";
    }

    private static string? CheckSanMatchesFacts(LintContext c)
    {
        if (!c.Signing || c.Request.Facts is not { } facts || OtherNames(c) is not { } names)
        {
            return null;
        }

        var expected = facts.OtherNameValues();
        foreach (var (oid, value) in names)
        {
            if (!expected.TryGetValue(oid, out var want) || want != value)
            {
                return $"otherName {oid} does not carry the resident's fact";
            }
        }

        return null;
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

    /// <summary>What the lint needs from the issuer certificate, read with System.Formats.Asn1.</summary>
    private sealed record IssuerView(byte[] SubjectDer, DateTimeOffset NotBefore, DateTimeOffset NotAfter, byte[] KeyIdentifier, byte[]? SubjectAltNameValue)
    {
        public static IssuerView Parse(byte[] certificateDer)
        {
            try
            {
                var reader = new AsnReader(certificateDer, AsnEncodingRules.DER);
                var certificate = reader.ReadSequence();
                var tbs = new TbsDer(certificate.ReadEncodedValue());
                var ski = tbs.Extension(JpkiOids.SubjectKeyIdentifier)
                    ?? throw new ArgumentException("the issuer certificate has no subjectKeyIdentifier", nameof(certificateDer));
                var keyIdentifier = new AsnReader(ski.Value, AsnEncodingRules.DER).ReadOctetString();
                return new IssuerView(tbs.SubjectDer, tbs.NotBefore, tbs.NotAfter, keyIdentifier, tbs.Extension(JpkiOids.SubjectAltName)?.Value);
            }
            catch (AsnContentException e)
            {
                throw new ArgumentException("the issuer certificate is not DER X.509", nameof(certificateDer), e);
            }
        }

        /// <summary>RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents.</summary>
        public static byte[] KeyIdentifierOf(ReadOnlySpan<byte> subjectPublicKey)
        {
            // SHA-1 here names a key, it protects nothing: RFC 5280 fixes the algorithm.
#pragma warning disable CA5350
            return SHA1.HashData(subjectPublicKey);
#pragma warning restore CA5350
        }
    }
}
