namespace Jpki.JukiNet;

/// <summary>A Juki-Net call did not produce an answer the CA can act on.</summary>
public abstract class JukiNetException : Exception
{
    protected JukiNetException()
    {
    }

    protected JukiNetException(string message)
        : base(message)
    {
    }

    protected JukiNetException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Juki-Net could not be reached: connection refused or reset, attempt timeouts, or 5xx answers,
/// on every one of the client's bounded attempts. Callers answer 503 and store nothing.
/// </summary>
public sealed class JukiNetUnavailableException : JukiNetException
{
    public JukiNetUnavailableException()
    {
    }

    public JukiNetUnavailableException(string message)
        : base(message)
    {
    }

    public JukiNetUnavailableException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    public JukiNetUnavailableException(string message, int attempts, Exception? innerException)
        : base(message, innerException) => Attempts = attempts;

    /// <summary>How many attempts were made before giving up.</summary>
    public int Attempts { get; }
}

/// <summary>
/// Juki-Net answered, but not as the contract says: unparseable or inconsistent JSON, an
/// unexpected status code. Retrying would get the same answer, so the client does not.
/// </summary>
public sealed class JukiNetProtocolException : JukiNetException
{
    public JukiNetProtocolException()
    {
    }

    public JukiNetProtocolException(string message)
        : base(message)
    {
    }

    public JukiNetProtocolException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
