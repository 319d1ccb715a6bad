namespace Jpki.Fuzz;

/// <summary>One input through a harness in process, as the replay test and <c>Jpki.Fuzz replay</c> run it.</summary>
public static class Replay
{
    /// <summary>Null when the parser read or refused the input as it should; else the unexpected exception.</summary>
    public static Exception? One(FuzzTarget target, byte[] input)
    {
        ArgumentNullException.ThrowIfNull(target);
        try
        {
            target.Run(input);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }
}
