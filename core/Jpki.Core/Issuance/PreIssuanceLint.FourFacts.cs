using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using Jpki.Core.Profiles;

namespace Jpki.Core.Issuance;

// The lint rules of the subjectAltName: the four facts and their substitute-character flags (docs/jpki-profile.md §4).
public static partial class PreIssuanceLint
{
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
}
