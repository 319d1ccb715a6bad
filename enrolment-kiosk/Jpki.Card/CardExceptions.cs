namespace Jpki.Card;

/// <summary>Base of the errors a card reports. Messages never contain a PIN.</summary>
public abstract class CardException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>No card with this label is in the store.</summary>
public sealed class CardNotFoundException(string label)
    : CardException($"no card labelled '{label}'")
{
    public string Label { get; } = label;
}

/// <summary>The PIN breaks the card's format rules; nothing was sent to the card and no try was counted.</summary>
public sealed class CardPinFormatException(CardApplication application, PinProblem problem)
    : CardException(PinRules.Describe(problem))
{
    public CardApplication Application { get; } = application;

    public PinProblem Problem { get; } = problem;
}

/// <summary>The card refused the PIN; <see cref="TriesLeft"/> more wrong tries lock it.</summary>
public sealed class CardWrongPinException(CardApplication application, int triesLeft)
    : CardException($"wrong {application.ToString().ToLowerInvariant()} PIN: {triesLeft} tries left before the card locks")
{
    public CardApplication Application { get; } = application;

    public int TriesLeft { get; } = triesLeft;
}

/// <summary>The application is locked after too many wrong PINs; it refuses even the right one until it is reset at a window.</summary>
public sealed class CardLockedException(CardApplication application)
    : CardException($"the {application.ToString().ToLowerInvariant()} PIN is locked after too many wrong tries; the card must be reset at a municipal window")
{
    public CardApplication Application { get; } = application;
}

/// <summary>The card lacks what the operation needs (no certificate yet, not personalised).</summary>
public sealed class CardStateException(string message) : CardException(message);

/// <summary>The card expired (its expiry date, JST, is before today); nothing on it was changed.</summary>
public sealed class CardExpiredException(string label, DateOnly expires)
    : CardException($"card '{label}' expired on {expires:yyyy-MM-dd}; the resident needs a new card")
{
    public string Label { get; } = label;

    public DateOnly Expires { get; } = expires;
}

/// <summary>
/// The disk of the card store is full (ENOSPC, EDQUOT): the file being written was removed, nothing
/// of the step was kept (a new card's security-officer PIN, a state change), and the step can be
/// tried again once space is freed (decision 0821).
/// </summary>
public sealed class CardStoreFullException(string path, IOException inner)
    : CardException($"the card store's disk is full: {Path.GetFileName(path)} was not written; nothing of this step was kept", inner)
{
    private const int NoSpaceOnDevice = 28;
    private const int QuotaExceeded = 122;

    /// <summary>Whether <paramref name="error"/> is a write refused for lack of space.</summary>
    public static bool IsOutOfSpace(IOException error) => error?.HResult is NoSpaceOnDevice or QuotaExceeded;
}
