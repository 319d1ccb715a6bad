namespace Jpki.Core.Configuration;

/// <summary>The CRL publisher (port 8083): where CRLs go, how often, and who may fetch them.</summary>
public sealed record CrlSettings
{
    /// <summary>Where the publisher listens (plain HTTP: CRLs are signed objects, RFC 5019).</summary>
    public string Listen { get; init; } = "http://127.0.0.1:8083";

    /// <summary>Where published CRLs are written: <c>{directory}/{issuerKeyId}/full.crl</c> etc.</summary>
    public string Directory { get; init; } = "{home}/crl";

    /// <summary>
    /// A scheduled complete CRL every this many hours (JPKI-PROFILE §7: at least daily). The four
    /// schedule and validity settings take fractions (0.5 = 30 minutes); the schedules fire on
    /// boundaries of their interval counted from the Unix epoch, so every instance and every
    /// restart agrees on the fire times.
    /// </summary>
    public double CompleteEveryHours { get; init; } = 24;

    /// <summary>nextUpdate of a complete CRL = thisUpdate + this.</summary>
    public double CompleteValidityHours { get; init; } = 48;

    /// <summary>A delta CRL of every series with deltas this often.</summary>
    public double DeltaEveryMinutes { get; init; } = 15;

    /// <summary>nextUpdate of a delta CRL = thisUpdate + this.</summary>
    public double DeltaValidityMinutes { get; init; } = 60;

    /// <summary>How often the watch job looks for CRLs past 75% of their validity (and audits the alarm).</summary>
    public int WatchEverySeconds { get; init; } = 60;

    /// <summary>Where every published CRL is also kept, by number: <c>{archiveDirectory}/{issuerKeyId}/{scope}/{number}.crl</c>.</summary>
    public string ArchiveDirectory { get; init; } = "{home}/crl-archive";

    /// <summary>thisUpdate is this far before the build, for verifiers whose clocks run slow.</summary>
    public int BackdateSeconds { get; init; } = 300;

    /// <summary>Source networks (CIDR, e.g. <c>10.20.0.0/16</c>) that may fetch without a verifier token.</summary>
    public List<string> AllowedNetworks { get; init; } = [];

    /// <summary>An optional HTTPS listener where verifiers present registered client certificates (off when null).</summary>
    public MutualTlsSettings? MutualTls { get; init; }

    internal void Validate(string path)
    {
        var oneSecond = 1.0 / 3600;
        if (!(CompleteEveryHours >= oneSecond && CompleteEveryHours <= 24 * 7) || !(CompleteValidityHours >= oneSecond && CompleteValidityHours <= 24 * 31)
            || !(DeltaEveryMinutes >= oneSecond * 60 && DeltaEveryMinutes <= 24 * 60) || !(DeltaValidityMinutes >= oneSecond * 60 && DeltaValidityMinutes <= 7 * 24 * 60)
            || WatchEverySeconds is < 1 or > 3600 || BackdateSeconds is < 0 or > 86_400 || ArchiveDirectory.Length == 0)
        {
            throw new InvalidDataException($"{path}: crl settings out of range (completeEveryHours 1 s–7 days, completeValidityHours 1 s–31 days, deltaEveryMinutes 1 s–1 day, deltaValidityMinutes 1 s–7 days, watchEverySeconds 1–3600, backdateSeconds 0–86400, archiveDirectory set)");
        }
    }
}
