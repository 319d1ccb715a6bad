using Jpki.Core.Issuance;
using Jpki.Hsm;

namespace Jpki.Core.Issuers;

/// <summary>
/// The issuer key the CA signs with for one issuer: its store row, its HSM signer and its
/// certificate's public key imported once for the check after each signature.
/// </summary>
public sealed record ActiveIssuerKey(IssuerRow Issuer, IssuerKeyRow Key, Pkcs11Signer Signer, IssuerPublicKey PublicKey);
