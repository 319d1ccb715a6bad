using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using Org.BouncyCastle.X509;

namespace Jpki.Hsm;

/// <summary>
/// Certificate objects and user-PIN management: what a resident's card (a token of its own)
/// needs beyond the CA's keys. Certificates are public objects (CKA_PRIVATE false), so they can
/// be listed without a PIN, as a reader lists the certificates on a real card.
/// </summary>
public sealed partial class HsmToken
{
    /// <summary>
    /// Writes an X.509 certificate onto the token as a CKO_CERTIFICATE object whose CKA_ID is
    /// the key pair's (the key label's bytes, as <see cref="GenerateKeyPair"/> sets it), so
    /// PKCS#11 readers pair the certificate with its key.
    /// </summary>
    public void WriteCertificate(string keyLabel, byte[] certificateDer)
    {
        using var held = _module.LockTokenStore();
        var certificate = new X509Certificate(certificateDer);
        using var session = OpenSession(readWrite: true);
        if (FindObject(session, CKO.CKO_CERTIFICATE, keyLabel) is { } old)
        {
            session.DestroyObject(old);
        }

        var f = Factories.ObjectAttributeFactory;
        session.CreateObject(
        [
            f.Create(CKA.CKA_CLASS, CKO.CKO_CERTIFICATE),
            f.Create(CKA.CKA_CERTIFICATE_TYPE, CKC.CKC_X_509),
            f.Create(CKA.CKA_TOKEN, true),
            f.Create(CKA.CKA_PRIVATE, false),
            f.Create(CKA.CKA_MODIFIABLE, true),
            f.Create(CKA.CKA_LABEL, keyLabel),
            f.Create(CKA.CKA_ID, System.Text.Encoding.UTF8.GetBytes(keyLabel)),
            f.Create(CKA.CKA_SUBJECT, certificate.SubjectDN.GetDerEncoded()),
            f.Create(CKA.CKA_ISSUER, certificate.IssuerDN.GetDerEncoded()),
            f.Create(CKA.CKA_SERIAL_NUMBER, new Org.BouncyCastle.Asn1.DerInteger(certificate.SerialNumber).GetDerEncoded()),
            f.Create(CKA.CKA_VALUE, certificateDer),
        ]);
    }

    /// <summary>Destroys every key and certificate object on the token (a card whose PIN is reset gets new keys).</summary>
    public void DestroyAllObjects()
    {
        using var held = _module.LockTokenStore();
        using var session = OpenSession(readWrite: true);
        var f = Factories.ObjectAttributeFactory;
        foreach (var cls in new[] { CKO.CKO_CERTIFICATE, CKO.CKO_PRIVATE_KEY, CKO.CKO_PUBLIC_KEY })
        {
            foreach (var handle in session.FindAllObjects([f.Create(CKA.CKA_CLASS, cls)]))
            {
                session.DestroyObject(handle);
            }
        }
    }

    /// <summary>
    /// The certificates on the token labelled <paramref name="tokenLabel"/>, read in a public
    /// session (no PIN): (object label, DER).
    /// </summary>
    /// <exception cref="HsmTokenNotFoundException">no token has that label.</exception>
    public static IReadOnlyList<(string Label, byte[] Der)> ReadCertificates(Pkcs11Module module, string tokenLabel)
    {
        ArgumentNullException.ThrowIfNull(module);
        using var held = module.LockTokenStore();
        var slot = module.FindSlot(tokenLabel) ?? throw new HsmTokenNotFoundException(tokenLabel);
        using var session = slot.OpenSession(SessionType.ReadOnly);
        var f = module.Factories.ObjectAttributeFactory;
        var result = new List<(string, byte[])>();
        foreach (var handle in session.FindAllObjects([f.Create(CKA.CKA_CLASS, CKO.CKO_CERTIFICATE)]))
        {
            var values = session.GetAttributeValue(handle, [CKA.CKA_LABEL, CKA.CKA_VALUE]);
            result.Add((values[0].GetValueAsString(), values[1].GetValueAsByteArray()));
        }

        return result;
    }

    /// <summary>
    /// Sets a new user PIN as the security officer (C_InitPIN): how a card issuer gives a card
    /// its holder's PIN, and how a locked PIN is reset.
    /// </summary>
    /// <exception cref="HsmWrongPinException">the SO PIN was refused.</exception>
    public static void SetUserPin(Pkcs11Module module, string tokenLabel, byte[] soPin, byte[] newUserPin)
    {
        ArgumentNullException.ThrowIfNull(module);
        using var held = module.LockTokenStore();
        var slot = module.FindSlot(tokenLabel) ?? throw new HsmTokenNotFoundException(tokenLabel);
        using var session = slot.OpenSession(SessionType.ReadWrite);
        try
        {
            session.Login(CKU.CKU_SO, soPin);
        }
        catch (Pkcs11Exception e) when (e.RV is CKR.CKR_PIN_INCORRECT or CKR.CKR_PIN_INVALID or CKR.CKR_PIN_LEN_RANGE)
        {
            throw new HsmWrongPinException(tokenLabel, e);
        }

        try
        {
            session.InitPin(newUserPin);
        }
        finally
        {
            session.Logout();
        }
    }
}
