namespace Jpki.Card;

/// <summary>Which of the card's two applications (each its own token, key and PIN).</summary>
public enum CardApplication
{
    /// <summary>署名用: 6–16 characters A–Z 0–9, locks after 5 wrong tries.</summary>
    Signing,

    /// <summary>利用者証明用: 4 digits, locks after 3 wrong tries.</summary>
    Authentication,
}

/// <summary>Why a PIN was refused before it reached the card.</summary>
public enum PinProblem
{
    None,
    SigningTooShort,
    SigningTooLong,
    SigningBadCharacters,
    AuthenticationNotFourDigits,
}

/// <summary>The JPKI card's PIN rules (docs/jpki-profile.md §1): format and how many wrong tries lock it.</summary>
public static class PinRules
{
    public const int SigningMinLength = 6;
    public const int SigningMaxLength = 16;
    public const int SigningMaxWrongTries = 5;
    public const int AuthenticationMaxWrongTries = 3;

    public static int MaxWrongTries(CardApplication application) =>
        application == CardApplication.Signing ? SigningMaxWrongTries : AuthenticationMaxWrongTries;

    public static PinProblem Check(CardApplication application, string pin)
    {
        ArgumentNullException.ThrowIfNull(pin);
        if (application == CardApplication.Authentication)
        {
            return pin.Length == 4 && pin.All(char.IsAsciiDigit) ? PinProblem.None : PinProblem.AuthenticationNotFourDigits;
        }

        if (pin.Length < SigningMinLength)
        {
            return PinProblem.SigningTooShort;
        }

        if (pin.Length > SigningMaxLength)
        {
            return PinProblem.SigningTooLong;
        }

        return pin.All(c => char.IsAsciiDigit(c) || c is >= 'A' and <= 'Z') ? PinProblem.None : PinProblem.SigningBadCharacters;
    }

    /// <summary>An English sentence for a problem (the kiosk has its Japanese one).</summary>
    public static string Describe(PinProblem problem) => problem switch
    {
        PinProblem.SigningTooShort => $"the signing PIN must be at least {SigningMinLength} characters",
        PinProblem.SigningTooLong => $"the signing PIN must be at most {SigningMaxLength} characters",
        PinProblem.SigningBadCharacters => "the signing PIN may contain only capital letters A-Z and digits 0-9",
        PinProblem.AuthenticationNotFourDigits => "the authentication PIN must be exactly 4 digits",
        _ => "the PIN is acceptable",
    };
}
