namespace Jpki.Core.Requests;

/// <summary>Why a certification request was refused. Each maps to one problem+json type on the CA API.</summary>
public enum CsrProblem
{
    /// <summary>Not PEM, not base64, not DER, or not a PKCS#10 CertificationRequest.</summary>
    Malformed,

    /// <summary>Larger than the limit.</summary>
    TooLarge,

    /// <summary>The request's signature does not verify under its own key: no proof of possession.</summary>
    BadSignature,

    /// <summary>Not an RSA key.</summary>
    UnsupportedKeyType,

    /// <summary>An RSA key of another size than the profile allows.</summary>
    WrongKeySize,

    /// <summary>An RSA public exponent other than 65537.</summary>
    WrongExponent,

    /// <summary>The modulus has a small prime factor.</summary>
    SmallFactor,

    /// <summary>The modulus carries the ROCA fingerprint (CVE-2017-15361, Infineon RSALib).</summary>
    RocaVulnerable,

    /// <summary>The primes are so close that Fermat's method factors the modulus at once.</summary>
    FermatFactorable,
}

/// <summary>A certification request the CA will not certify, and why.</summary>
public sealed class CsrRejectedException(CsrProblem problem, string detail)
    : Exception($"certification request rejected ({problem}): {detail}")
{
    public CsrProblem Problem { get; } = problem;

    public string Detail { get; } = detail;
}
