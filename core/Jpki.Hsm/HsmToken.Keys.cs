using Microsoft.Extensions.Logging;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;

namespace Jpki.Hsm;

/// <summary>The keys inside the token: generated sensitive and never extractable, found, described, destroyed.</summary>
public sealed partial class HsmToken
{
    /// <summary>Generates a key pair inside the token: private half sensitive, never extractable, sign only.</summary>
    /// <returns>the public key as a DER SubjectPublicKeyInfo.</returns>
    public byte[] GenerateKeyPair(KeyKind kind, string label, int rsaBits = 2048)
    {
        using var held = _module.LockTokenStore();
        using var session = OpenSession(readWrite: true);
        if (FindObject(session, CKO.CKO_PRIVATE_KEY, label) is not null)
        {
            throw new InvalidOperationException($"token '{Label}' already holds a key labelled '{label}'");
        }

        var f = Factories.ObjectAttributeFactory;
        var id = System.Text.Encoding.UTF8.GetBytes(label);
        var publicTemplate = new List<IObjectAttribute>
        {
            f.Create(CKA.CKA_TOKEN, true),
            f.Create(CKA.CKA_PRIVATE, false),
            f.Create(CKA.CKA_LABEL, label),
            f.Create(CKA.CKA_ID, id),
            f.Create(CKA.CKA_VERIFY, true),
            f.Create(CKA.CKA_ENCRYPT, false),
            f.Create(CKA.CKA_WRAP, false),
        };
        var privateTemplate = new List<IObjectAttribute>
        {
            f.Create(CKA.CKA_TOKEN, true),
            f.Create(CKA.CKA_PRIVATE, true),
            f.Create(CKA.CKA_LABEL, label),
            f.Create(CKA.CKA_ID, id),
            f.Create(CKA.CKA_SENSITIVE, true),
            f.Create(CKA.CKA_EXTRACTABLE, false),
            f.Create(CKA.CKA_SIGN, true),
            // SoftHSM grants decrypt/unwrap by default; a CA key must only sign.
            f.Create(CKA.CKA_DECRYPT, false),
            f.Create(CKA.CKA_UNWRAP, false),
            f.Create(CKA.CKA_DERIVE, false),
        };

        CKM mechanism;
        if (kind == KeyKind.Rsa)
        {
            mechanism = CKM.CKM_RSA_PKCS_KEY_PAIR_GEN;
            publicTemplate.Add(f.Create(CKA.CKA_MODULUS_BITS, (ulong)rsaBits));
            publicTemplate.Add(f.Create(CKA.CKA_PUBLIC_EXPONENT, new byte[] { 0x01, 0x00, 0x01 }));
        }
        else
        {
            mechanism = CKM.CKM_EC_KEY_PAIR_GEN;
            publicTemplate.Add(f.Create(CKA.CKA_EC_PARAMS, SecObjectIdentifiers.SecP256r1.GetDerEncoded()));
        }

        using var mech = Factories.MechanismFactory.Create(mechanism);
        session.GenerateKeyPair(mech, publicTemplate, privateTemplate, out _, out _);
        _logger.LogInformation("Generated {Kind} key pair {Key} in token {Token}", kind, label, Label);
        return ReadPublicKey(session, label).SubjectPublicKeyInfo;
    }

    /// <summary>Generates an HMAC-SHA256 secret key inside the token (sensitive, never extractable, sign/verify only).</summary>
    public void GenerateHmacKey(string label)
    {
        using var held = _module.LockTokenStore();
        using var session = OpenSession(readWrite: true);
        if (FindObject(session, CKO.CKO_SECRET_KEY, label) is not null)
        {
            throw new InvalidOperationException($"token '{Label}' already holds a key labelled '{label}'");
        }

        var f = Factories.ObjectAttributeFactory;
        var template = new List<IObjectAttribute>
        {
            f.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
            f.Create(CKA.CKA_KEY_TYPE, CKK.CKK_GENERIC_SECRET),
            f.Create(CKA.CKA_TOKEN, true),
            f.Create(CKA.CKA_PRIVATE, true),
            f.Create(CKA.CKA_LABEL, label),
            f.Create(CKA.CKA_ID, System.Text.Encoding.UTF8.GetBytes(label)),
            f.Create(CKA.CKA_VALUE_LEN, 32UL),
            f.Create(CKA.CKA_SENSITIVE, true),
            f.Create(CKA.CKA_EXTRACTABLE, false),
            f.Create(CKA.CKA_SIGN, true),
            f.Create(CKA.CKA_VERIFY, true),
            f.Create(CKA.CKA_ENCRYPT, false),
            f.Create(CKA.CKA_DECRYPT, false),
            f.Create(CKA.CKA_WRAP, false),
            f.Create(CKA.CKA_UNWRAP, false),
            f.Create(CKA.CKA_DERIVE, false),
        };
        using var mech = Factories.MechanismFactory.Create(CKM.CKM_GENERIC_SECRET_KEY_GEN);
        session.GenerateKey(mech, template);
        _logger.LogInformation("Generated HMAC key {Key} in token {Token}", label, Label);
    }

    /// <summary>Whether a private or secret key with this label exists.</summary>
    public bool HasKey(string label)
    {
        using var held = _module.LockTokenStore();
        using var session = OpenSession();
        return FindObject(session, CKO.CKO_PRIVATE_KEY, label) is not null
            || FindObject(session, CKO.CKO_SECRET_KEY, label) is not null;
    }

    /// <summary>
    /// Destroys every private-key object labelled <paramref name="label"/> (C_DestroyObject) and
    /// returns how many there were; the public-key object stays (nothing secret, and it keeps
    /// the key's public half readable). Used only when a key generation is retired after its
    /// root expired (<c>./jpki hsm retire</c>); none left is not an error (a retirement resumed).
    /// </summary>
    public int DestroyPrivateKeys(string label)
    {
        ArgumentException.ThrowIfNullOrEmpty(label);
        using var held = _module.LockTokenStore();
        using var session = OpenSession(readWrite: true);
        var f = Factories.ObjectAttributeFactory;
        var found = session.FindAllObjects([f.Create(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY), f.Create(CKA.CKA_LABEL, label)]);
        foreach (var handle in found)
        {
            session.DestroyObject(handle);
        }

        _logger.LogWarning("Destroyed {Count} private key object(s) {Key} in token {Token}", found.Count, label, Label);
        return found.Count;
    }

    /// <summary>The protection attributes of a private or secret key, read back from the token.</summary>
    public KeyProtection DescribeKey(string label)
    {
        using var held = _module.LockTokenStore();
        using var session = OpenSession();
        var handle = FindObject(session, CKO.CKO_PRIVATE_KEY, label)
            ?? FindObject(session, CKO.CKO_SECRET_KEY, label)
            ?? throw new HsmKeyNotFoundException(Label, label);
        var values = session.GetAttributeValue(handle, [
            CKA.CKA_SENSITIVE, CKA.CKA_EXTRACTABLE, CKA.CKA_NEVER_EXTRACTABLE, CKA.CKA_ALWAYS_SENSITIVE,
            CKA.CKA_DECRYPT, CKA.CKA_UNWRAP, CKA.CKA_SIGN, CKA.CKA_TOKEN,
        ]);
        return new KeyProtection(
            label,
            Sensitive: values[0].GetValueAsBool(),
            Extractable: values[1].GetValueAsBool(),
            NeverExtractable: values[2].GetValueAsBool(),
            AlwaysSensitive: values[3].GetValueAsBool(),
            Decrypt: values[4].GetValueAsBool(),
            Unwrap: values[5].GetValueAsBool(),
            Sign: values[6].GetValueAsBool(),
            OnToken: values[7].GetValueAsBool());
    }

    /// <summary>The labels of every private and secret key in the token.</summary>
    public IReadOnlyList<string> KeyLabels()
    {
        using var held = _module.LockTokenStore();
        using var session = OpenSession();
        var f = Factories.ObjectAttributeFactory;
        var labels = new List<string>();
        foreach (var cls in new[] { CKO.CKO_PRIVATE_KEY, CKO.CKO_SECRET_KEY })
        {
            foreach (var handle in session.FindAllObjects([f.Create(CKA.CKA_CLASS, cls)]))
            {
                labels.Add(session.GetAttributeValue(handle, [CKA.CKA_LABEL])[0].GetValueAsString());
            }
        }

        labels.Sort(StringComparer.Ordinal);
        return labels;
    }

    internal IObjectHandle? FindObject(ISession session, CKO objectClass, string label)
    {
        using var held = _module.LockTokenStore();
        var f = Factories.ObjectAttributeFactory;
        var found = session.FindAllObjects([f.Create(CKA.CKA_CLASS, objectClass), f.Create(CKA.CKA_LABEL, label)]);
        return found.Count switch
        {
            0 => null,
            1 => found[0],
            _ => throw new InvalidOperationException($"token '{Label}' holds {found.Count} objects labelled '{label}'"),
        };
    }

    /// <summary>Reads a key pair's public half from its public-key object.</summary>
    internal PublicKeyDescription ReadPublicKey(ISession session, string label)
    {
        using var held = _module.LockTokenStore();
        var handle = FindObject(session, CKO.CKO_PUBLIC_KEY, label)
            ?? throw new HsmKeyNotFoundException(Label, label);
        var keyType = (CKK)session.GetAttributeValue(handle, [CKA.CKA_KEY_TYPE])[0].GetValueAsUlong();
        if (keyType == CKK.CKK_RSA)
        {
            var v = session.GetAttributeValue(handle, [CKA.CKA_MODULUS, CKA.CKA_PUBLIC_EXPONENT]);
            var rsa = new RsaKeyParameters(false, new BigInteger(1, v[0].GetValueAsByteArray()), new BigInteger(1, v[1].GetValueAsByteArray()));
            var spki = SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(rsa).GetDerEncoded();
            return new PublicKeyDescription(KeyKind.Rsa, spki, rsa.Modulus.BitLength);
        }

        if (keyType == CKK.CKK_EC)
        {
            // CKA_EC_POINT is the uncompressed point wrapped in a DER OCTET STRING.
            var wrapped = session.GetAttributeValue(handle, [CKA.CKA_EC_POINT])[0].GetValueAsByteArray();
            var point = Asn1OctetString.GetInstance(wrapped).GetOctets();
            var spki = new SubjectPublicKeyInfo(
                new AlgorithmIdentifier(X9ObjectIdentifiers.IdECPublicKey, SecObjectIdentifiers.SecP256r1),
                point).GetDerEncoded();
            return new PublicKeyDescription(KeyKind.EcP256, spki, 256);
        }

        throw new HsmUsageException($"key '{label}' in token '{Label}' has unsupported type {keyType}");
    }
}
