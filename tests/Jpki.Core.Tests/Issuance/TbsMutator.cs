using System.Formats.Asn1;

namespace Jpki.Core.Tests.Issuance;

/// <summary>One extension of a TBS being mutated.</summary>
internal sealed record MutableExtension(string Oid, bool Critical, byte[] Value);

/// <summary>
/// Takes a DER TBSCertificate apart into its top-level fields and extensions so that a test can
/// change exactly one thing and re-encode it, to show that one lint rule catches that change.
/// </summary>
internal sealed class TbsMutator
{
    public const int Version = 0;
    public const int Serial = 1;
    public const int Signature = 2;
    public const int Issuer = 3;
    public const int Validity = 4;
    public const int Subject = 5;
    public const int PublicKey = 6;

    private static readonly Asn1Tag Explicit3 = new(TagClass.ContextSpecific, 3, isConstructed: true);
    private static readonly Asn1Tag Context0 = new(TagClass.ContextSpecific, 0, isConstructed: true);

    public TbsMutator(byte[] tbs)
    {
        var sequence = new AsnReader(tbs, AsnEncodingRules.DER).ReadSequence();
        for (var i = 0; i < 7; i++)
        {
            Fields.Add(sequence.ReadEncodedValue().ToArray());
        }

        var extensions = sequence.ReadSequence(Explicit3).ReadSequence();
        while (extensions.HasData)
        {
            var extension = extensions.ReadSequence();
            var oid = extension.ReadObjectIdentifier();
            var critical = extension.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && extension.ReadBoolean();
            Extensions.Add(new MutableExtension(oid, critical, extension.ReadOctetString()));
        }
    }

    /// <summary>version, serial, signature, issuer, validity, subject, subjectPublicKeyInfo; set an entry to null to drop it.</summary>
    public List<byte[]?> Fields { get; } = [];

    public List<MutableExtension> Extensions { get; } = [];

    public int IndexOf(string oid) => Extensions.FindIndex(e => e.Oid == oid);

    public void Replace(string oid, Func<MutableExtension, MutableExtension> change)
    {
        var index = IndexOf(oid);
        Extensions[index] = change(Extensions[index]);
    }

    public void SetValue(string oid, byte[] value) => Replace(oid, e => e with { Value = value });

    public byte[] Encode()
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            foreach (var field in Fields.OfType<byte[]>())
            {
                writer.WriteEncodedValue(field);
            }

            using (writer.PushSequence(Explicit3))
            using (writer.PushSequence())
            {
                foreach (var extension in Extensions)
                {
                    using (writer.PushSequence())
                    {
                        writer.WriteObjectIdentifier(extension.Oid);
                        if (extension.Critical)
                        {
                            writer.WriteBoolean(true);
                        }

                        writer.WriteOctetString(extension.Value);
                    }
                }
            }
        }

        return writer.Encode();
    }

    // ---- DER pieces for mutations ----

    public static byte[] Der(Action<AsnWriter> write)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        write(writer);
        return writer.Encode();
    }

    public static byte[] Name(params (string Oid, UniversalTagNumber Tag, string Value)[] attributes) => Der(w =>
    {
        using (w.PushSequence())
        {
            foreach (var (oid, tag, value) in attributes)
            {
                using (w.PushSetOf())
                using (w.PushSequence())
                {
                    w.WriteObjectIdentifier(oid);
                    w.WriteCharacterString(tag, value);
                }
            }
        }
    });

    public static byte[] ValidityOf(DateTimeOffset notBefore, DateTimeOffset notAfter, bool generalizedNotAfter = false) => Der(w =>
    {
        using (w.PushSequence())
        {
            w.WriteUtcTime(notBefore);
            if (generalizedNotAfter)
            {
                w.WriteGeneralizedTime(notAfter);
            }
            else
            {
                w.WriteUtcTime(notAfter);
            }
        }
    });

    public static List<(string Oid, string Value)> OtherNames(byte[] san)
    {
        var names = new AsnReader(san, AsnEncodingRules.DER).ReadSequence();
        var result = new List<(string, string)>();
        while (names.HasData)
        {
            var otherName = names.ReadSequence(Context0);
            var oid = otherName.ReadObjectIdentifier();
            result.Add((oid, otherName.ReadSequence(Context0).ReadCharacterString(UniversalTagNumber.UTF8String)));
        }

        return result;
    }

    public static byte[] San(IEnumerable<(string Oid, string Value)> otherNames, UniversalTagNumber stringType = UniversalTagNumber.UTF8String) => Der(w =>
    {
        using (w.PushSequence())
        {
            foreach (var (oid, value) in otherNames)
            {
                using (w.PushSequence(Context0))
                {
                    w.WriteObjectIdentifier(oid);
                    using (w.PushSequence(Context0))
                    {
                        w.WriteCharacterString(stringType, value);
                    }
                }
            }
        }
    });
}
