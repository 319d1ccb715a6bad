using System.Data.Common;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.CrlPublisher;

/// <summary>One revoked certificate as a CRL entry reads it.</summary>
public sealed class CrlEntryRow
{
    public string Serial { get; set; } = "";

    public long RevokedAtUs { get; set; }

    public long? Reason { get; set; }

    /// <summary>'YYYY-MM-DD': the invalidity date is 00:00 JST of that day.</summary>
    public string? InvalidityDate { get; set; }
}

/// <summary>How many entries a CRL will have and their total DER length.</summary>
public sealed class CrlEntriesSize
{
    public long Count { get; set; }

    public long Length { get; set; }
}

/// <summary>One published CRL as archived in <c>crls</c>.</summary>
public sealed class CrlArchiveRow
{
    public long Id { get; set; }

    public string IssuerKeyId { get; set; } = "";

    public string Scope { get; set; } = "";

    public long Number { get; set; }

    public string Kind { get; set; } = "complete";

    public long Scheduled { get; set; }

    public long ThisUpdateUs { get; set; }

    public long NextUpdateUs { get; set; }

    public long? BaseNumber { get; set; }

    public long MaxChangeSeq { get; set; }

    public long EntryCount { get; set; }

    public string Sha256 { get; set; } = "";

    public long SizeBytes { get; set; }

    public long PublishedUs { get; set; }

    public long? StaleAlarmUs { get; set; }
}

/// <summary>
/// The newest revocationDates among the entries a CRL adds since its series' previous one: the
/// latest at or before a horizon (the clock plus what clocks may disagree by), and the latest and
/// count of those after it (dated ahead by a clock error where they were revoked).
/// </summary>
public sealed class ListedRevocations
{
    public long? LatestUs { get; set; }

    public long? BeyondUs { get; set; }

    public long BeyondCount { get; set; }
}

/// <summary>A municipality that has certificates of an issuer key, and the CRL DP its newest one carries.</summary>
public sealed record MunicipalityPartition(string Code, byte[] CrlDpDer);

/// <summary>Another build took a number for a newer snapshot of the store: this one would go backwards.</summary>
public sealed class CrlSupersededException(string message) : Exception(message);

/// <summary>
/// The SQL of the CRL aggregate in one place: series numbering, the archive of published CRLs,
/// the entries of complete and delta CRLs (streamed, never buffered) and the first-listing trail.
/// Entry queries run in the caller's read transaction, so both passes of a build see one snapshot.
/// </summary>
public static class CrlStore
{
    private const string EntryColumns =
        "c.serial AS Serial, c.revoked_at_us AS RevokedAtUs, c.reason AS Reason, c.invalidity_date AS InvalidityDate";

    /// <summary>
    /// The DER length of each entry as <see cref="CrlWriter.EncodeEntry"/> writes it, summed: SEQUENCE
    /// header 2, INTEGER header 2 + serial octets, UTCTime 15 (GeneralizedTime 17 from 2050),
    /// extensions header 2 if any, reasonCode 12 (not for unspecified), invalidityDate 26. The writer
    /// checks what it wrote against this, so a mismatch fails the build instead of the CRL.
    /// </summary>
    private const string SizeColumns =
        """
        COUNT(*) AS Count,
        COALESCE(SUM(4 + length(c.serial) / 2
            + CASE WHEN c.revoked_at_us < 2524608000000000 THEN 15 ELSE 17 END
            + CASE WHEN (c.reason IS NOT NULL AND c.reason <> 0) OR c.invalidity_date IS NOT NULL THEN 2 ELSE 0 END
            + CASE WHEN c.reason IS NOT NULL AND c.reason <> 0 THEN 12 ELSE 0 END
            + CASE WHEN c.invalidity_date IS NOT NULL THEN 26 ELSE 0 END), 0) AS Length
        """;

    private const string ArchiveColumns =
        """
        id AS Id, issuer_key_id AS IssuerKeyId, scope AS Scope, number AS Number, kind AS Kind, scheduled AS Scheduled,
        this_update_us AS ThisUpdateUs, next_update_us AS NextUpdateUs, base_number AS BaseNumber, max_change_seq AS MaxChangeSeq,
        entry_count AS EntryCount, sha256 AS Sha256, size_bytes AS SizeBytes, published_us AS PublishedUs, stale_alarm_us AS StaleAlarmUs
        """;

    /// <summary>The newest status change visible to this transaction: what the CRL is built from.</summary>
    public static long Mark(DbConnection db, DbTransaction? tx) =>
        db.QuerySingle<long>("SELECT COALESCE(MAX(change_seq), 0) FROM status_changes", transaction: tx);

    /// <summary>
    /// Issuer keys that still sign CRLs: active (a compromised key is frozen; a retired one has no
    /// private key left), with a certificate, before their root's notAfter.
    /// </summary>
    public static IReadOnlyList<string> SigningIssuerKeys(DbConnection db, long nowUs) =>
        db.Query<string>(
            "SELECT id FROM issuer_keys WHERE state = 'active' AND certificate_der IS NOT NULL AND not_after_us > @nowUs ORDER BY id",
            new { nowUs }).AsList();

    /// <summary>The municipalities with end-entity certificates of the key, each with its newest certificate's CRL DP.</summary>
    public static IReadOnlyList<MunicipalityPartition> Municipalities(DbConnection db, DbTransaction? tx, string issuerKeyId)
    {
        var codes = db.Query<string>(
            "SELECT DISTINCT municipality_code FROM certificates WHERE issuer_key_id = @issuerKeyId AND municipality_code IS NOT NULL AND crl_dp_der IS NOT NULL ORDER BY municipality_code",
            new { issuerKeyId },
            tx).AsList();
        return codes.Select(code => new MunicipalityPartition(
                code,
                db.QuerySingle<byte[]>(
                    """
                    SELECT crl_dp_der FROM certificates
                    WHERE issuer_key_id = @issuerKeyId AND municipality_code = @code AND crl_dp_der IS NOT NULL
                    ORDER BY created_us DESC, serial DESC LIMIT 1
                    """,
                    new { issuerKeyId, code },
                    tx)))
            .ToList();
    }

    /// <summary>
    /// The entries of a complete CRL, in serial order, unbuffered. An expired certificate's entry
    /// stays until a scheduled complete CRL of the series issued after its notAfter has listed it
    /// (RFC 5280 §3.3): it goes only when that CRL's thisUpdate (<paramref name="dropCutoffUs"/>)
    /// is after notAfter and its mark (<paramref name="dropMark"/>) already covered the revocation.
    /// </summary>
    public static IEnumerable<CrlEntryRow> CompleteEntries(DbConnection db, DbTransaction? tx, StoreDialect dialect, CrlSeries series, long dropCutoffUs, long dropMark) =>
        db.Query<CrlEntryRow>(
            $"SELECT {EntryColumns} FROM certificates c WHERE {CompleteFilter(series)} ORDER BY c.serial{Collation(dialect)}",
            CompleteParameters(series, dropCutoffUs, dropMark),
            tx,
            buffered: false);

    /// <summary>Count and DER length of <see cref="CompleteEntries"/>, in one aggregate instead of a first pass.</summary>
    public static CrlEntriesSize CompleteEntriesSize(DbConnection db, DbTransaction? tx, CrlSeries series, long dropCutoffUs, long dropMark) =>
        db.QuerySingle<CrlEntriesSize>($"SELECT {SizeColumns} FROM certificates c WHERE {CompleteFilter(series)}", CompleteParameters(series, dropCutoffUs, dropMark), tx);

    /// <summary>The entries of a delta: certificates of the scope with a revocation change in (<paramref name="afterMark"/>, <paramref name="mark"/>].</summary>
    public static IEnumerable<CrlEntryRow> DeltaEntries(DbConnection db, DbTransaction? tx, StoreDialect dialect, CrlSeries series, long afterMark, long mark) =>
        db.Query<CrlEntryRow>(
            $"SELECT {EntryColumns} FROM certificates c WHERE {DeltaFilter(series)} ORDER BY c.serial{Collation(dialect)}",
            new { series.IssuerKeyId, Code = series.MunicipalityCode, AfterMark = afterMark, Mark = mark },
            tx,
            buffered: false);

    public static CrlEntriesSize DeltaEntriesSize(DbConnection db, DbTransaction? tx, CrlSeries series, long afterMark, long mark) =>
        db.QuerySingle<CrlEntriesSize>(
            $"SELECT {SizeColumns} FROM certificates c WHERE {DeltaFilter(series)}",
            new { series.IssuerKeyId, Code = series.MunicipalityCode, AfterMark = afterMark, Mark = mark },
            tx);

    /// <summary>
    /// The latest revocationDates (<c>revoked_at_us</c>, the column the entries carry) among the
    /// entries <see cref="CompleteEntries"/> lists that were revoked in (<paramref name="sinceMark"/>,
    /// <paramref name="mark"/>], at or before <paramref name="horizonUs"/> and after it. The series'
    /// thisUpdate never goes back, so entries revoked up to the previous CRL's mark are already at or
    /// before its thisUpdate.
    /// </summary>
    public static ListedRevocations LatestCompleteRevocations(DbConnection db, DbTransaction? tx, CrlSeries series, long dropCutoffUs, long dropMark, long sinceMark, long mark, long horizonUs) =>
        db.QuerySingle<ListedRevocations>(
            $"SELECT {LatestColumns} FROM certificates c WHERE {CompleteFilter(series)} AND {RevokedSinceFilter}",
            new { series.IssuerKeyId, Code = series.MunicipalityCode, DropCutoffUs = dropCutoffUs, DropMark = dropMark, SinceMark = sinceMark, Mark = mark, HorizonUs = horizonUs },
            tx);

    /// <summary>The same as <see cref="LatestCompleteRevocations"/> among the entries <see cref="DeltaEntries"/> lists.</summary>
    public static ListedRevocations LatestDeltaRevocations(DbConnection db, DbTransaction? tx, CrlSeries series, long afterMark, long sinceMark, long mark, long horizonUs) =>
        db.QuerySingle<ListedRevocations>(
            $"SELECT {LatestColumns} FROM certificates c WHERE {DeltaFilter(series)} AND {RevokedSinceFilter}",
            new { series.IssuerKeyId, Code = series.MunicipalityCode, AfterMark = afterMark, SinceMark = sinceMark, Mark = mark, HorizonUs = horizonUs },
            tx);

    private const string LatestColumns =
        """
        MAX(CASE WHEN c.revoked_at_us <= @HorizonUs THEN c.revoked_at_us END) AS LatestUs,
        MAX(CASE WHEN c.revoked_at_us > @HorizonUs THEN c.revoked_at_us END) AS BeyondUs,
        COUNT(CASE WHEN c.revoked_at_us > @HorizonUs THEN 1 END) AS BeyondCount
        """;

    /// <summary>A revocation change (first revocation or reason change) of the issuer key in (@SinceMark, @Mark].</summary>
    private const string RevokedSinceFilter =
        """
        c.serial IN (SELECT s.serial FROM status_changes s
                     WHERE s.issuer_key_id = @IssuerKeyId AND s.status = 'revoked' AND s.change_seq > @SinceMark AND s.change_seq <= @Mark)
        """;

    private static string CompleteFilter(CrlSeries series) =>
        $"""
        c.issuer_key_id = @IssuerKeyId AND c.status = 'revoked' {ScopeFilter(series)}
          AND (c.not_after_us >= @DropCutoffUs
               OR (SELECT MIN(s.change_seq) FROM status_changes s WHERE s.serial = c.serial AND s.status = 'revoked') > @DropMark)
        """;

    private static object CompleteParameters(CrlSeries series, long dropCutoffUs, long dropMark) =>
        new { series.IssuerKeyId, Code = series.MunicipalityCode, DropCutoffUs = dropCutoffUs, DropMark = dropMark };

    private static string DeltaFilter(CrlSeries series) =>
        $"""
        c.issuer_key_id = @IssuerKeyId AND c.status = 'revoked' {ScopeFilter(series)}
          AND c.serial IN (SELECT s.serial FROM status_changes s
                           WHERE s.issuer_key_id = @IssuerKeyId AND s.status = 'revoked' AND s.change_seq > @AfterMark AND s.change_seq <= @Mark)
        """;

    /// <summary>What the pre-publication check needs to decide whether an entry may leave: notAfter and the first revocation's change_seq.</summary>
    public static (long NotAfterUs, long? FirstRevocationSeq)? DropFacts(DbConnection db, string serial)
    {
        var row = db.QuerySingleOrDefault<DropFactsRow>(
            """
            SELECT c.not_after_us AS NotAfterUs,
                   (SELECT MIN(s.change_seq) FROM status_changes s WHERE s.serial = c.serial AND s.status = 'revoked') AS FirstRevocationSeq
            FROM certificates c WHERE c.serial = @serial
            """,
            new { serial });
        return row is null ? null : (row.NotAfterUs, row.FirstRevocationSeq);
    }

    /// <summary>The newest archived CRL of the series of <paramref name="kind"/> (null = either), optionally scheduled ones only.</summary>
    public static CrlArchiveRow? Latest(DbConnection db, DbTransaction? tx, CrlSeries series, string? kind = null, bool scheduledOnly = false) =>
        db.QuerySingleOrDefault<CrlArchiveRow>(
            $"""
            SELECT {ArchiveColumns} FROM crls
            WHERE issuer_key_id = @IssuerKeyId AND scope = @Scope AND (@Kind IS NULL OR kind = @Kind) AND (@ScheduledOnly = 0 OR scheduled = 1)
            ORDER BY number DESC LIMIT 1
            """,
            new { series.IssuerKeyId, Scope = series.StoreName, Kind = kind, ScheduledOnly = scheduledOnly ? 1 : 0 },
            tx);

    /// <summary>The archived numbers of the series strictly between <paramref name="after"/> and <paramref name="before"/>.</summary>
    public static IReadOnlyList<long> NumbersBetween(DbConnection db, CrlSeries series, long after, long before) =>
        db.Query<long>(
            "SELECT number FROM crls WHERE issuer_key_id = @IssuerKeyId AND scope = @Scope AND number > @after AND number < @before",
            new { series.IssuerKeyId, Scope = series.StoreName, after, before }).AsList();

    /// <summary>
    /// The newest archived CRL of each (series, kind) that a newer one must replace before its
    /// nextUpdate: not of a key whose root has expired at <paramref name="nowUs"/>, and not of a
    /// series that ended with its final CRL (a complete CRL valid until the root's notAfter; the
    /// deltas before it have no successor either).
    /// </summary>
    public static IReadOnlyList<CrlArchiveRow> LatestOfEverySeries(DbConnection db, long nowUs) =>
        db.Query<CrlArchiveRow>(
            $"""
            SELECT {ArchiveColumns} FROM crls r
            WHERE number = (SELECT MAX(number) FROM crls x WHERE x.issuer_key_id = r.issuer_key_id AND x.scope = r.scope AND x.kind = r.kind)
              AND (SELECT k.not_after_us FROM issuer_keys k WHERE k.id = r.issuer_key_id) > @nowUs
              AND NOT EXISTS (SELECT 1 FROM crls f
                              WHERE f.issuer_key_id = r.issuer_key_id AND f.scope = r.scope AND f.kind = 'complete'
                                AND f.next_update_us >= (SELECT k.not_after_us FROM issuer_keys k WHERE k.id = r.issuer_key_id))
            ORDER BY issuer_key_id, scope, kind
            """,
            new { nowUs }).AsList();

    public static IReadOnlyList<CrlArchiveRow> Archive(DbConnection db, string issuerKeyId) =>
        db.Query<CrlArchiveRow>($"SELECT {ArchiveColumns} FROM crls WHERE issuer_key_id = @issuerKeyId ORDER BY number", new { issuerKeyId }).AsList();

    /// <summary>
    /// Takes the series' next cRLNumber under the writers' lock: max(last + 1, thisUpdate in Unix
    /// ms). A reservation whose snapshot is older than the last one's is refused, so a higher
    /// number never carries older data. A failed build leaves a gap, never a reused number.
    /// </summary>
    /// <exception cref="CrlSupersededException">A newer snapshot already took a number.</exception>
    public static long ReserveNumber(WriteTransaction tx, CrlSeries series, long mark, DateTimeOffset thisUpdate)
    {
        ArgumentNullException.ThrowIfNull(tx);
        var last = tx.QuerySingleOrDefault<SeriesRow>(
            "SELECT last_number AS LastNumber, last_mark AS LastMark FROM crl_series WHERE issuer_key_id = @IssuerKeyId AND scope = @Scope",
            new { series.IssuerKeyId, Scope = series.StoreName });
        if (last is not null && last.LastMark > mark)
        {
            throw new CrlSupersededException($"{series}: a build from change {last.LastMark} took number {last.LastNumber}; this one is from change {mark}");
        }

        var number = Math.Max((last?.LastNumber ?? 0) + 1, thisUpdate.ToUnixTimeMilliseconds());
        tx.Execute(
            last is null
                ? "INSERT INTO crl_series (issuer_key_id, scope, last_number, last_mark) VALUES (@IssuerKeyId, @Scope, @Number, @Mark)"
                : "UPDATE crl_series SET last_number = @Number, last_mark = @Mark WHERE issuer_key_id = @IssuerKeyId AND scope = @Scope",
            new { series.IssuerKeyId, Scope = series.StoreName, Number = number, Mark = mark });
        return number;
    }

    public static void Insert(WriteTransaction tx, CrlArchiveRow row)
    {
        ArgumentNullException.ThrowIfNull(tx);
        tx.Execute(
            """
            INSERT INTO crls (issuer_key_id, scope, number, kind, scheduled, this_update_us, next_update_us, base_number, max_change_seq,
                              entry_count, sha256, size_bytes, published_us)
            VALUES (@IssuerKeyId, @Scope, @Number, @Kind, @Scheduled, @ThisUpdateUs, @NextUpdateUs, @BaseNumber, @MaxChangeSeq,
                    @EntryCount, @Sha256, @SizeBytes, @PublishedUs)
            """,
            row);
    }

    /// <summary>
    /// Records this CRL as the first that listed each certificate of the scope revoked in
    /// (<paramref name="afterMark"/>, <paramref name="mark"/>] and not yet listed by an earlier one.
    /// </summary>
    public static int RecordFirstListings(WriteTransaction tx, CrlSeries series, long number, long thisUpdateUs, long afterMark, long mark)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.Execute(
            $"""
            INSERT INTO crl_first_listings (serial, issuer_key_id, scope, number, this_update_us)
            SELECT DISTINCT c.serial, c.issuer_key_id, @Scope, @Number, @ThisUpdateUs
            FROM certificates c JOIN status_changes s ON s.serial = c.serial
            WHERE c.issuer_key_id = @IssuerKeyId AND s.status = 'revoked' AND s.change_seq > @AfterMark AND s.change_seq <= @Mark {ScopeFilter(series)}
              AND NOT EXISTS (SELECT 1 FROM crl_first_listings f WHERE f.serial = c.serial)
            """,
            new { series.IssuerKeyId, Code = series.MunicipalityCode, Scope = series.StoreName, Number = number, ThisUpdateUs = thisUpdateUs, AfterMark = afterMark, Mark = mark });
    }

    public static FirstListing? FirstListing(DbConnection db, string serial) =>
        db.QuerySingleOrDefault<FirstListing>(
            "SELECT serial AS Serial, issuer_key_id AS IssuerKeyId, scope AS Scope, number AS Number, this_update_us AS ThisUpdateUs FROM crl_first_listings WHERE serial = @serial",
            new { serial });

    /// <summary>Marks the staleness alarm as raised for an archived CRL; false when another instance did already.</summary>
    public static bool MarkStaleAlarm(WriteTransaction tx, long id, long nowUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.Execute("UPDATE crls SET stale_alarm_us = @nowUs WHERE id = @id AND stale_alarm_us IS NULL", new { id, nowUs }) == 1;
    }

    /// <summary>The scope's rows among one issuer key's certificates; only constants, the code is a parameter.</summary>
    private static string ScopeFilter(CrlSeries series) => series.Kind switch
    {
        CrlScopeKind.Full => "",
        CrlScopeKind.Arl => "AND c.kind IN ('root', 'ocsp-responder')",
        _ => "AND c.municipality_code = @Code AND c.kind IN ('signing', 'authentication')",
    };

    /// <summary>Serial order must be byte order on both engines: the checker merges two CRLs by it.</summary>
    private static string Collation(StoreDialect dialect) => dialect == StoreDialect.Postgres ? " COLLATE \"C\"" : "";

    private sealed class SeriesRow
    {
        public long LastNumber { get; set; }

        public long LastMark { get; set; }
    }

    private sealed class DropFactsRow
    {
        public long NotAfterUs { get; set; }

        public long? FirstRevocationSeq { get; set; }
    }
}

public sealed class FirstListing
{
    public string Serial { get; set; } = "";

    public string IssuerKeyId { get; set; } = "";

    public string Scope { get; set; } = "";

    public long Number { get; set; }

    public long ThisUpdateUs { get; set; }
}
