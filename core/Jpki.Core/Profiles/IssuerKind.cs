namespace Jpki.Core.Profiles;

/// <summary>The two certificate kinds; each has its own self-signed issuer per prefecture.</summary>
public enum IssuerKind
{
    /// <summary>署名用電子証明書: signing certificates carrying the four facts.</summary>
    Signing,

    /// <summary>利用者証明用電子証明書: user-authentication certificates without personal data.</summary>
    Authentication,
}
