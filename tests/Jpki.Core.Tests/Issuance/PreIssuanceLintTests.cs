using System.Formats.Asn1;
using Jpki.Core.Issuance;
using Jpki.Core.Profiles;
using Jpki.Core.Tests.Profiles;
using Lint = Jpki.Core.Issuance.PreIssuanceLint;

namespace Jpki.Core.Tests.Issuance;

/// <summary>
/// Each lint rule has a negative test: the well-formed TBS (or its request) is changed in the one
/// way the rule exists for, and that rule, by name, must fire.
/// </summary>
public sealed class PreIssuanceLintTests
{
    private static readonly byte[] SigningRoot = IssuanceInputs.Root(IssuerKind.Signing);
    private static readonly byte[] AuthenticationRoot = IssuanceInputs.Root(IssuerKind.Authentication);

    /// <summary>A mutation: changes the TBS in place and returns the request to lint against.</summary>
    private delegate EndEntityRequest Mutation(TbsMutator tbs, EndEntityRequest request);

    private static readonly Dictionary<string, (IssuerKind Kind, Mutation Mutate)> Mutations = new()
    {
        [Lint.Version] = (IssuerKind.Signing, (t, r) =>
        {
            t.Fields[TbsMutator.Version] = TbsMutator.Der(w =>
            {
                using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                {
                    w.WriteInteger(1);
                }
            });
            return r;
        }
        ),
        [Lint.SignatureAlgorithm] = (IssuerKind.Signing, (t, r) =>
        {
            // sha256WithRSAEncryption with the parameters left out instead of NULL.
            t.Fields[TbsMutator.Signature] = TbsMutator.Der(w =>
            {
                using (w.PushSequence())
                {
                    w.WriteObjectIdentifier("1.2.840.113549.1.1.11");
                }
            });
            return r;
        }
        ),
        [Lint.SerialNumber] = (IssuerKind.Signing, (t, r) =>
        {
            t.Fields[TbsMutator.Serial] = TbsMutator.Der(w => w.WriteInteger(0x1234_5678));
            return r;
        }
        ),
        [Lint.IssuerName] = (IssuerKind.Signing, (t, r) =>
        {
            t.Fields[TbsMutator.Issuer] = new CertificateDer(AuthenticationRoot).SubjectDer;
            return r;
        }
        ),
        [Lint.ValidityUtcTime] = (IssuerKind.Signing, (t, r) =>
        {
            t.Fields[TbsMutator.Validity] = TbsMutator.ValidityOf(r.Validity.NotBefore, r.Validity.NotAfter, generalizedNotAfter: true);
            return r;
        }
        ),
        [Lint.ValidityEndOfJstDay] = (IssuerKind.Signing, (t, r) =>
        {
            t.Fields[TbsMutator.Validity] = TbsMutator.ValidityOf(r.Validity.NotBefore, r.Validity.NotAfter.AddSeconds(1));
            return r;
        }
        ),
        [Lint.ValidityMatchesRequest] = (IssuerKind.Signing, (t, r) =>
        {
            t.Fields[TbsMutator.Validity] = TbsMutator.ValidityOf(r.Validity.NotBefore, r.Validity.NotAfter.AddDays(1));
            return r;
        }
        ),
        [Lint.ValidityWithinIssuer] = (IssuerKind.Signing, (t, r) =>
        {
            var issuerNotAfter = new CertificateDer(SigningRoot).NotAfter.Value;
            t.Fields[TbsMutator.Validity] = TbsMutator.ValidityOf(r.Validity.NotBefore, issuerNotAfter.AddDays(1));
            return r;
        }
        ),
        [Lint.SubjectName] = (IssuerKind.Signing, (t, r) =>
        {
            t.Fields[TbsMutator.Subject] = TbsMutator.Name(
                ("2.5.4.6", UniversalTagNumber.PrintableString, "JP"),
                ("2.5.4.7", UniversalTagNumber.UTF8String, "Yamaguchi-ken"),
                ("2.5.4.7", UniversalTagNumber.UTF8String, "Hagi-shi"),
                ("2.5.4.3", UniversalTagNumber.UTF8String, IssuanceInputs.IssuanceId));
            return r;
        }
        ),
        [Lint.SubjectStringTypes] = (IssuerKind.Signing, (t, r) =>
        {
            t.Fields[TbsMutator.Subject] = TbsMutator.Name(
                ("2.5.4.6", UniversalTagNumber.PrintableString, "JP"),
                ("2.5.4.7", UniversalTagNumber.UTF8String, "Yamaguchi-ken"),
                ("2.5.4.7", UniversalTagNumber.UTF8String, "Yamaguchi-shi"),
                ("2.5.4.3", UniversalTagNumber.PrintableString, IssuanceInputs.IssuanceId));
            return r;
        }
        ),
        [Lint.SubjectId] = (IssuerKind.Authentication, (t, r) =>
        {
            const string tooShort = "A1B2C3D4E5F6G7H8J9K0L1";
            t.Fields[TbsMutator.Subject] = TbsMutator.Name(
                ("2.5.4.6", UniversalTagNumber.PrintableString, "JP"),
                ("2.5.4.3", UniversalTagNumber.UTF8String, tooShort));
            return r;
        }
        ),
        [Lint.PublicKey] = (IssuerKind.Signing, (t, r) =>
        {
            t.Fields[TbsMutator.PublicKey] = SoftwareKeys.Responder.SubjectPublicKeyInfo; // P-256
            return r with { SubjectPublicKeyInfo = SoftwareKeys.Responder.SubjectPublicKeyInfo };
        }
        ),
        [Lint.PublicKeyMatchesRequest] = (IssuerKind.Signing, (t, r) =>
            r with { SubjectPublicKeyInfo = SoftwareKeys.Root.SubjectPublicKeyInfo }),
        [Lint.ExtensionOrder] = (IssuerKind.Signing, (t, r) =>
        {
            (t.Extensions[2], t.Extensions[3]) = (t.Extensions[3], t.Extensions[2]);
            return r;
        }
        ),
        [Lint.ExtensionCriticality] = (IssuerKind.Signing, (t, r) =>
        {
            t.Replace(JpkiOids.CertificatePolicies, e => e with { Critical = false });
            return r;
        }
        ),
        [Lint.KeyUsage] = (IssuerKind.Signing, (t, r) =>
        {
            t.SetValue(JpkiOids.KeyUsage, [0x03, 0x02, 0x07, 0x80]);
            return r;
        }
        ),
        [Lint.CertificatePolicies] = (IssuerKind.Authentication, (t, r) =>
        {
            t.SetValue(JpkiOids.CertificatePolicies, TbsMutator.Der(w =>
            {
                using (w.PushSequence())
                using (w.PushSequence())
                {
                    w.WriteObjectIdentifier(JpkiOids.SigningPolicy);
                }
            }));
            return r;
        }
        ),
        [Lint.SanOtherNames] = (IssuerKind.Signing, (t, r) =>
        {
            var names = Facts(t);
            (names[1], names[2]) = (names[2], names[1]);
            t.SetValue(JpkiOids.SubjectAltName, TbsMutator.San(names));
            return r;
        }
        ),
        [Lint.SanNameSubstitutes] = (IssuerKind.Signing, (t, r) => SetFact(t, r, JpkiOids.NameSubstitutes, "0001")),
        [Lint.SanAddressSubstitutes] = (IssuerKind.Signing, (t, r) => SetFact(t, r, JpkiOids.AddressSubstitutes, "000000000002")),
        [Lint.SanDateOfBirth] = (IssuerKind.Signing, (t, r) => SetFact(t, r, JpkiOids.DateOfBirth, "31980-2-29")),
        [Lint.SanSex] = (IssuerKind.Signing, (t, r) => SetFact(t, r, JpkiOids.Sex, "4")),
        [Lint.SanAddress] = (IssuerKind.Signing, (t, r) =>
        {
            SetFact(t, r, JpkiOids.Address, "山口県" + new string('一', 198));
            return SetFact(t, r, JpkiOids.AddressSubstitutes, new string('0', 201));
        }
        ),
        [Lint.SanMatchesFacts] = (IssuerKind.Signing, (t, r) => SetFact(t, r, JpkiOids.Name, "山口\u3000花子")),
        [Lint.IssuerAltName] = (IssuerKind.Signing, (t, r) =>
        {
            t.SetValue(JpkiOids.IssuerAltName, new CertificateDer(AuthenticationRoot).Extension(CertificateDer.SubjectAltName).Value);
            return r;
        }
        ),
        [Lint.CrlDistributionPoints] = (IssuerKind.Signing, (t, r) =>
        {
            // The URI alone, without the partition directoryName.
            t.SetValue(JpkiOids.CrlDistributionPoints, TbsMutator.Der(w =>
            {
                using (w.PushSequence())
                using (w.PushSequence())
                using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true)))
                using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true)))
                {
                    w.WriteCharacterString(UniversalTagNumber.IA5String, r.CrlUrl, new Asn1Tag(TagClass.ContextSpecific, 6));
                }
            }));
            return r;
        }
        ),
        [Lint.AuthorityKeyIdentifier] = (IssuerKind.Authentication, (t, r) =>
        {
            t.SetValue(JpkiOids.AuthorityKeyIdentifier, TbsMutator.Der(w =>
            {
                using (w.PushSequence())
                {
                    w.WriteOctetString(new byte[20], new Asn1Tag(TagClass.ContextSpecific, 0));
                }
            }));
            return r;
        }
        ),
        [Lint.AuthorityInfoAccess] = (IssuerKind.Signing, (t, r) =>
        {
            // id-ad-caIssuers instead of id-ad-ocsp.
            t.SetValue(JpkiOids.AuthorityInfoAccess, TbsMutator.Der(w =>
            {
                using (w.PushSequence())
                using (w.PushSequence())
                {
                    w.WriteObjectIdentifier("1.3.6.1.5.5.7.48.2");
                    w.WriteCharacterString(UniversalTagNumber.IA5String, r.OcspUrl, new Asn1Tag(TagClass.ContextSpecific, 6));
                }
            }));
            return r;
        }
        ),
        [Lint.SubjectKeyIdentifier] = (IssuerKind.Signing, (t, r) =>
        {
            t.SetValue(JpkiOids.SubjectKeyIdentifier, TbsMutator.Der(w => w.WriteOctetString(IssuerKeyIdentifier)));
            return r;
        }
        ),
        [Lint.SubjectKeyIdentifierLast] = (IssuerKind.Authentication, (t, r) =>
        {
            var ski = t.Extensions[^1];
            t.Extensions.RemoveAt(t.Extensions.Count - 1);
            t.Extensions.Insert(0, ski);
            return r;
        }
        ),
    };

    public static TheoryData<string> RulesWithMutations => [.. Mutations.Keys];

    private static byte[] IssuerKeyIdentifier => Convert.FromHexString(IssuanceInputs.IssuerKeyId);

    private static (byte[] Tbs, EndEntityRequest Request) WellFormed(IssuerKind kind)
    {
        var request = IssuanceInputs.Request(kind, kind == IssuerKind.Signing ? SigningRoot : AuthenticationRoot);
        return (EndEntityTbsBuilder.Build(request).Der, request);
    }

    [Theory]
    [InlineData(IssuerKind.Signing)]
    [InlineData(IssuerKind.Authentication)]
    public void The_builders_TBS_passes_every_rule(IssuerKind kind)
    {
        var (tbs, request) = WellFormed(kind);

        Assert.Empty(Lint.Check(tbs, request));
    }

    [Theory]
    [InlineData(IssuerKind.Signing)]
    [InlineData(IssuerKind.Authentication)]
    public void Re_encoding_without_a_change_passes(IssuerKind kind)
    {
        // The mutator itself changes nothing: a negative test's finding comes from its mutation.
        var (tbs, request) = WellFormed(kind);

        Assert.Equal(tbs, new TbsMutator(tbs).Encode());
    }

    [Theory]
    [MemberData(nameof(RulesWithMutations))]
    public void The_rule_fires_on_its_mutation(string rule)
    {
        var (kind, mutate) = Mutations[rule];
        var (tbs, request) = WellFormed(kind);
        var mutator = new TbsMutator(tbs);
        var lintRequest = mutate(mutator, request);

        var findings = Lint.Check(mutator.Encode(), lintRequest);

        Assert.Contains(findings, f => f.Rule == rule);

        // The mutation is caught by a rule, not by a rule failing to parse what it reads.
        Assert.DoesNotContain(findings, f => f.Message.StartsWith("malformed", StringComparison.Ordinal));
    }

    [Fact]
    public void Every_rule_has_a_negative_test()
    {
        var tested = Mutations.Keys.Append(Lint.TbsStructure).Order(StringComparer.Ordinal);

        Assert.Equal(Lint.RuleNames.Order(StringComparer.Ordinal), tested);
    }

    [Fact]
    public void Undecodable_DER_is_one_structure_finding()
    {
        var (tbs, request) = WellFormed(IssuerKind.Signing);

        var findings = Lint.Check(tbs.AsMemory(0, tbs.Length - 3), request);

        Assert.Equal(Lint.TbsStructure, Assert.Single(findings).Rule);
    }

    [Fact]
    public void Issuer_or_subject_unique_identifiers_break_the_version_rule()
    {
        var (tbs, request) = WellFormed(IssuerKind.Signing);
        var mutator = new TbsMutator(tbs);
        mutator.Fields.Add(TbsMutator.Der(w => w.WriteBitString([0x01], 0, new Asn1Tag(TagClass.ContextSpecific, 1))));

        var findings = Lint.Check(mutator.Encode(), request);

        Assert.Equal(Lint.Version, Assert.Single(findings).Rule);
    }

    [Fact]
    public void A_subjectAltName_on_an_authentication_certificate_breaks_the_extension_list()
    {
        var (tbs, request) = WellFormed(IssuerKind.Authentication);
        var mutator = new TbsMutator(tbs);
        var (signingTbs, _) = WellFormed(IssuerKind.Signing);
        mutator.Extensions.Insert(2, new TbsMutator(signingTbs).Extensions.Single(e => e.Oid == JpkiOids.SubjectAltName));

        var findings = Lint.Check(mutator.Encode(), request);

        Assert.Equal(Lint.ExtensionOrder, Assert.Single(findings).Rule);
    }

    [Fact]
    public void A_missing_extension_is_named_by_the_order_rule_and_its_own_rule()
    {
        var (tbs, request) = WellFormed(IssuerKind.Signing);
        var mutator = new TbsMutator(tbs);
        mutator.Extensions.RemoveAt(mutator.IndexOf(JpkiOids.AuthorityInfoAccess));

        var findings = Lint.Check(mutator.Encode(), request);

        Assert.Equal([Lint.ExtensionOrder, Lint.AuthorityInfoAccess], findings.Select(f => f.Rule));
    }

    [Fact]
    public void A_substitute_flag_string_a_character_too_long_fires_the_name_rule_not_the_address_rule()
    {
        var (tbs, request) = WellFormed(IssuerKind.Signing);
        var mutator = new TbsMutator(tbs);
        SetFact(mutator, request, JpkiOids.NameSubstitutes, "000100");

        var rules = Lint.Check(mutator.Encode(), request).Select(f => f.Rule).ToList();

        Assert.Contains(Lint.SanNameSubstitutes, rules);
        Assert.DoesNotContain(Lint.SanAddressSubstitutes, rules);
    }

    [Fact]
    public void An_otherName_value_that_is_not_a_UTF8String_is_a_finding()
    {
        var (tbs, request) = WellFormed(IssuerKind.Signing);
        var mutator = new TbsMutator(tbs);
        mutator.SetValue(JpkiOids.SubjectAltName, TbsMutator.San(Facts(mutator).Select(f => (f.Oid, f.Oid == JpkiOids.Sex ? f.Value : "x")), UniversalTagNumber.PrintableString));

        var findings = Lint.Check(mutator.Encode(), request);

        Assert.Contains(findings, f => f.Rule == Lint.SanOtherNames && f.Message.StartsWith("malformed", StringComparison.Ordinal));
    }

    [Fact]
    public void LintException_lists_every_finding()
    {
        var findings = new[] { new LintFinding(Lint.KeyUsage, "a"), new LintFinding(Lint.SanSex, "b") };

        var e = new LintException(findings);

        Assert.Contains("key-usage: a", e.Message, StringComparison.Ordinal);
        Assert.Contains("san-sex: b", e.Message, StringComparison.Ordinal);
        Assert.Equal(findings, e.Findings);
    }

    private static List<(string Oid, string Value)> Facts(TbsMutator tbs) =>
        TbsMutator.OtherNames(tbs.Extensions[tbs.IndexOf(JpkiOids.SubjectAltName)].Value);

    private static EndEntityRequest SetFact(TbsMutator tbs, EndEntityRequest request, string oid, string value)
    {
        var names = Facts(tbs).Select(n => n.Oid == oid ? (n.Oid, value) : n).ToList();
        tbs.SetValue(JpkiOids.SubjectAltName, TbsMutator.San(names));
        return request;
    }
}
