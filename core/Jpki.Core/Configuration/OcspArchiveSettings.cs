namespace Jpki.Core.Configuration;

/// <summary>
/// The OCSP query log's archive (<c>ocsp.archive.*</c>): the verifiers' queries are access logs, kept
/// 7 years (docs/jpki-profile.md §9), but only the last <see cref="HotDays"/> JST days stay in the
/// <c>ocsp_queries</c> table; older days are moved to one gzip file of JSON lines each, whose SHA-256
/// goes into the audit chain.
/// </summary>
public sealed record OcspArchiveSettings
{
    /// <summary>Run the archive job in this responder process. With several responders on one store, one is enough.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Where the day files go (<c>ocsp-queries-YYYY-MM-DD.jsonl.gz</c>); keep it on storage that is backed up.</summary>
    public string Directory { get; init; } = "{home}/archive/ocsp-queries";

    /// <summary>Whole JST days kept in the table before today; a day older than that is archived.</summary>
    public int HotDays { get; init; } = 31;

    /// <summary>How often the job looks for days to archive.</summary>
    public int EveryMinutes { get; init; } = 60;

    /// <summary>At most this many days per run, so that a long backlog is worked off over several runs.</summary>
    public int MaxDaysPerRun { get; init; } = 7;

    internal void Validate(string path)
    {
        if (HotDays is < 1 or > 3650 || EveryMinutes is < 1 or > 24 * 60 || MaxDaysPerRun is < 1 or > 366 || string.IsNullOrWhiteSpace(Directory))
        {
            throw new InvalidDataException($"{path}: ocsp.archive settings out of range (hotDays 1–3650, everyMinutes 1–1440, maxDaysPerRun 1–366, directory set)");
        }
    }
}
