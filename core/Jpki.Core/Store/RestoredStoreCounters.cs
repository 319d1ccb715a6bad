namespace Jpki.Core.Store;

/// <summary>
/// What a disaster-recovery restore changes in a store brought back from a backup, so that
/// nothing the lost machine handed out after the backup is handed out again. Only the CRL
/// numbers need it: serials are 127 random bits (never allocated in the store), and an issuance
/// ID carries the second of issuance beside the day's sequence. Here rather than in the CRL
/// publisher's store class because the restore (hsm-config) depends on core only.
/// </summary>
public static class RestoredStoreCounters
{
    /// <summary>
    /// Moves every CRL series' last cRLNumber to at least <paramref name="highestSeen"/> (the
    /// highest number of a published CRL that survived) plus <paramref name="margin"/> (numbers
    /// the lost machine may have used that nobody kept): the next CRL of each series is numbered
    /// above anything a verifier may hold. RFC 5280 §5.2.3 asks for increasing numbers, not
    /// consecutive ones. Returns the series moved.
    /// </summary>
    public static int JumpCrlNumbers(WriteTransaction tx, long highestSeen, long margin)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.Execute(
            "UPDATE crl_series SET last_number = (CASE WHEN last_number > @highestSeen THEN last_number ELSE @highestSeen END) + @margin",
            new { highestSeen, margin });
    }

    /// <summary>The highest cRLNumber the store has handed out in any series (0 before the first CRL).</summary>
    public static long HighestCrlNumber(WriteTransaction tx)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.QuerySingleOrDefault<long?>("SELECT MAX(last_number) FROM crl_series") ?? 0;
    }
}
