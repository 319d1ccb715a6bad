using Jpki.Core.Store;

namespace Jpki.CrlPublisher;

/// <summary>What the pre-publication check compares a written CRL with.</summary>
public sealed record CrlExpectations
{
    public required byte[] IssuerSubjectPublicKeyInfo { get; init; }

    public required byte[] IssuerNameDer { get; init; }

    public required long Number { get; init; }

    /// <summary>The series' newest published number (any kind); the new one must be greater.</summary>
    public long? LastPublishedNumber { get; init; }

    /// <summary>The IDP the series must carry (null: none).</summary>
    public byte[]? IssuingDistributionPoint { get; init; }

    public long? DeltaBaseNumber { get; init; }

    public required long EntryCount { get; init; }

    /// <summary>
    /// The latest thisUpdate allowed: the clock's now, or the series' previous thisUpdate when the
    /// clock has stepped back behind it (the publisher then holds thisUpdate where it was).
    /// </summary>
    public required DateTimeOffset LatestThisUpdate { get; init; }

    /// <summary>
    /// Entries revoked after this instant are clock errors of the revoking machine, listed as stored
    /// after thisUpdate (<see cref="SeriesPublisher.RevocationHorizon"/>); null: none may be after thisUpdate.
    /// </summary>
    public DateTimeOffset? RevocationsAheadAfter { get; init; }

    /// <summary>The series' published complete CRL: a new complete CRL may drop only what RFC 5280 §3.3 lets go.</summary>
    public string? PreviousCompletePath { get; init; }

    /// <summary>Any published CRL of the series, whose IDP the new one must repeat.</summary>
    public string? PreviousPath { get; init; }

    /// <summary>
    /// An IDP the series' published CRL may still carry from an earlier version of this publisher:
    /// the ARL's said onlyContainsCACerts until it listed compromised OCSP responder certificates
    /// (decision 0420), so the first ARL after that upgrade changes it once.
    /// </summary>
    public byte[]? FormerIssuingDistributionPoint { get; init; }

    /// <summary>thisUpdate and mark of the series' newest scheduled complete CRL: the drop rule's inputs.</summary>
    public long DropCutoffUs { get; init; } = long.MinValue;

    public long DropMark { get; init; }
}

/// <summary>
/// Checks a written CRL before it is published, as Boulder's crl-storer does, reading the file
/// again from disk, streaming: the signature verifies with the issuer's public key (from its
/// certificate, not the signer), the number is above the last, the IDP is the series' one, the
/// entries are in order, as many as built and none revoked after thisUpdate, and no entry of the published complete CRL went
/// missing unless RFC 5280 §3.3 lets it go. Returns what is wrong; empty means publishable.
/// </summary>
public static class CrlChecker
{
    public static IReadOnlyList<string> Check(string path, CrlExpectations expected, Database database)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(database);
        var problems = new List<string>();
        try
        {
            CheckFile(path, expected, database, problems);
        }
        catch (FormatException e)
        {
            problems.Add("malformed: " + e.Message);
        }
        catch (System.Formats.Asn1.AsnContentException e)
        {
            problems.Add("malformed: " + e.Message);
        }

        return problems;
    }

    private static void CheckFile(string path, CrlExpectations expected, Database database, List<string> problems)
    {
        using var stream = OpenRead(path);
        using var reader = new CrlFileReader(stream);
        var preamble = reader.ReadPreamble();
        CheckPreamble(preamble, expected, problems);
        CheckEntries(reader, preamble.ThisUpdate, expected, database, problems);
        if (reader.EntryCount != expected.EntryCount)
        {
            problems.Add($"{reader.EntryCount} entries, {expected.EntryCount} built");
        }

        CheckTrailer(reader.ReadTrailer(expected.IssuerSubjectPublicKeyInfo), expected, problems);
    }

    private static void CheckPreamble(CrlPreamble preamble, CrlExpectations expected, List<string> problems)
    {
        if (!preamble.IssuerNameDer.AsSpan().SequenceEqual(expected.IssuerNameDer))
        {
            problems.Add("issuer name differs from the issuer certificate's subject");
        }

        if (preamble.ThisUpdate > expected.LatestThisUpdate)
        {
            problems.Add($"thisUpdate {preamble.ThisUpdate:O} is in the future");
        }

        if (preamble.NextUpdate is not { } next || next <= preamble.ThisUpdate)
        {
            problems.Add("nextUpdate missing or not after thisUpdate");
        }
    }

    /// <summary>
    /// The entries: in order, none revoked after thisUpdate, and (merged with the published complete
    /// CRL, which has the same order) none dropped that may not leave yet.
    /// </summary>
    private static void CheckEntries(CrlFileReader reader, DateTimeOffset thisUpdate, CrlExpectations expected, Database database, List<string> problems)
    {
        using var previous = expected.PreviousCompletePath is { } previousPath && File.Exists(previousPath) ? new CrlFileReader(OpenRead(previousPath)) : null;
        previous?.ReadPreamble();
        using var previousSerials = previous?.ReadEntrySerials().GetEnumerator();
        var previousHas = previousSerials?.MoveNext() ?? false;
        string? last = null;
        using var db = database.OpenConnection();
        // RFC 5280 §5.1.2.4: thisUpdate is the CRL's issue date; no entry may be revoked after it —
        // except one dated beyond any clock allowance (a clock error where it was revoked), which the
        // publisher lists as stored rather than hide it (docs/decisions/0260-crl-thisupdate-after-its-revocations.md).
        var afterThisUpdate = 0;
        foreach (var (serial, revoked) in reader.ReadEntries())
        {
            if (revoked > thisUpdate && (expected.RevocationsAheadAfter is not { } horizon || revoked <= horizon) && afterThisUpdate++ < 20)
            {
                problems.Add($"entry {serial} is revoked at {revoked:O}, after thisUpdate {thisUpdate:O}");
            }

            if (last is not null && string.CompareOrdinal(last, serial) >= 0)
            {
                problems.Add($"entries out of order or repeated at {serial}");
                break;
            }

            last = serial;
            // Whatever the published complete CRL has and this lacks was dropped.
            while (previousHas && string.CompareOrdinal(previousSerials!.Current, serial) < 0)
            {
                CheckDrop(db, previousSerials.Current, expected, problems);
                previousHas = previousSerials.MoveNext();
            }

            if (previousHas && previousSerials!.Current == serial)
            {
                previousHas = previousSerials.MoveNext();
            }
        }

        while (previousHas)
        {
            CheckDrop(db, previousSerials!.Current, expected, problems);
            previousHas = previousSerials.MoveNext();
        }
    }

    private static void CheckTrailer(CrlTrailer trailer, CrlExpectations expected, List<string> problems)
    {
        if (!trailer.SignatureValid)
        {
            problems.Add("signature does not verify with the issuer's public key");
        }

        if (trailer.Number != expected.Number)
        {
            problems.Add($"cRLNumber {trailer.Number} is not the reserved {expected.Number}");
        }

        if (expected.LastPublishedNumber is { } lastNumber && trailer.Number <= lastNumber)
        {
            problems.Add($"cRLNumber {trailer.Number} is not above the last published {lastNumber}");
        }

        if (trailer.DeltaBaseNumber != expected.DeltaBaseNumber)
        {
            problems.Add($"deltaCRLIndicator {trailer.DeltaBaseNumber} is not {expected.DeltaBaseNumber}");
        }

        if (!SameBytes(trailer.IssuingDistributionPoint, expected.IssuingDistributionPoint) || (trailer.IssuingDistributionPoint is not null && !trailer.IdpCritical))
        {
            problems.Add("issuingDistributionPoint is not the series' one (or not critical)");
        }

        if (expected.PreviousPath is { } published && File.Exists(published))
        {
            using var publishedReader = new CrlFileReader(OpenRead(published));
            publishedReader.ReadPreamble();
            var publishedTrailer = publishedReader.ReadTrailer(expected.IssuerSubjectPublicKeyInfo);
            if (!SameBytes(publishedTrailer.IssuingDistributionPoint, trailer.IssuingDistributionPoint)
                && (expected.FormerIssuingDistributionPoint is null || !SameBytes(publishedTrailer.IssuingDistributionPoint, expected.FormerIssuingDistributionPoint)))
            {
                problems.Add("issuingDistributionPoint differs from the series' published CRL");
            }
        }
    }

    /// <summary>An entry may leave only after a scheduled complete CRL issued after the certificate's notAfter listed it.</summary>
    private static void CheckDrop(System.Data.Common.DbConnection db, string serial, CrlExpectations expected, List<string> problems)
    {
        var facts = CrlStore.DropFacts(db, serial);
        var droppable = facts is { } f && f.NotAfterUs < expected.DropCutoffUs && f.FirstRevocationSeq is { } seq && seq <= expected.DropMark;
        if (!droppable && problems.Count < 100)
        {
            problems.Add($"entry {serial} of the published CRL is missing, and it must stay (RFC 5280 §3.3)");
        }
    }

    private static bool SameBytes(byte[]? a, byte[]? b) =>
        a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);

    private static FileStream OpenRead(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 64 * 1024);
}
