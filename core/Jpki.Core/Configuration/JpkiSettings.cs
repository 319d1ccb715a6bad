using System.Text.Json;
using System.Text.Json.Serialization;
using Jpki.Core.Audit;
using Jpki.Core.Profiles;
using Jpki.Core.Store;

namespace Jpki.Core.Configuration;

/// <summary>
/// The settings of one install, read from <c>$JPKI_HOME/jpki.json</c> (written with defaults on
/// first run). Paths may use <c>{home}</c> for JPKI_HOME. Environment variables override what
/// must differ per process without editing the file: JPKI_DB (connection string),
/// JPKI_PKCS11_MODULE, JPKI_HSM_TOKEN. PINs are never in this file: it names where they are.
/// </summary>
public sealed record JpkiSettings
{
    public const string FileName = "jpki.json";

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>A name for the install, carried in the audit-checkpoint certificate.</summary>
    public string InstallName { get; init; } = "JPKI prefecture CA";

    /// <summary>Store connection string: <c>Data Source=...</c> is SQLite, <c>Host=...</c> PostgreSQL.</summary>
    public string Database { get; init; } = "Data Source={home}/jpki.db";

    public HsmSettings Hsm { get; init; } = new();

    public List<PrefectureSettings> Prefectures { get; init; } = [new()];

    public UrlSettings Urls { get; init; } = new();

    public CeremonySettings Ceremony { get; init; } = new();

    /// <summary>Issuer key rollover (docs/rollover.md).</summary>
    public RolloverSettings Rollover { get; init; } = new();

    /// <summary>When a CA certificate near its notAfter without a successor raises an alarm (docs/rollover.md).</summary>
    public ExpiryAlarmSettings ExpiryAlarms { get; init; } = new();

    public AuditSettings Audit { get; init; } = new();

    public CrlSettings Crl { get; init; } = new();

    public FeedSettings Feed { get; init; } = new();

    public RevocationSettings Revocation { get; init; } = new();

    public OcspSettings Ocsp { get; init; } = new();

    public AccountSettings Accounts { get; init; } = new();

    public ClockSettings Clock { get; init; } = new();

    /// <summary>The HTTP verification service (port 8086).</summary>
    public VerifierServiceSettings Verifier { get; init; } = new();

    /// <summary>The install's RFC 3161 time-stamping service (port 8085).</summary>
    public TsaSettings Tsa { get; init; } = new();

    [JsonIgnore]
    public string Home { get; init; } = "";

    /// <summary>The jpki.json these settings were read from; null when the home has none (defaults, not written).</summary>
    [JsonIgnore]
    public string? SettingsFile { get; init; }

    /// <summary>JPKI_HOME, or <c>var</c> under the working directory.</summary>
    public static string HomeFromEnvironment() =>
        Path.GetFullPath(Environment.GetEnvironmentVariable("JPKI_HOME") is { Length: > 0 } home ? home : "var");

    /// <summary>
    /// Loads <c>{home}/jpki.json</c>. If it does not exist, the defaults are written there first
    /// when <paramref name="writeDefaults"/> (the install's first run); otherwise they are used
    /// without touching the home, so a verb pointed at the wrong home creates nothing there and
    /// reports the missing store instead (docs/decisions/0500).
    /// </summary>
    public static JpkiSettings Load(string home, bool writeDefaults = true)
    {
        var path = Path.Combine(home, FileName);
        JpkiSettings settings;
        string? file = path;
        if (File.Exists(path))
        {
            try
            {
                settings = JsonSerializer.Deserialize<JpkiSettings>(File.ReadAllText(path), Json)
                    ?? throw new InvalidDataException($"{path} is empty");
            }
            catch (JsonException e)
            {
                // Named as a settings error (with the line), not as a crash of whatever read it.
                throw new InvalidDataException($"{path}: not valid settings: {e.Message}", e);
            }
        }
        else if (writeDefaults)
        {
            Directory.CreateDirectory(home);
            settings = new JpkiSettings();
            File.WriteAllText(path, JsonSerializer.Serialize(settings, Json));
        }
        else
        {
            settings = new JpkiSettings();
            file = null;
        }

        settings = settings with { Home = home, SettingsFile = file };
        settings.Validate(path);
        return settings;
    }

    /// <summary>A path setting with {home} resolved.</summary>
    public string Resolve(string value) => value.Replace("{home}", Home, StringComparison.Ordinal);

    public string ConnectionString => Store.ConnectionString;

    /// <summary>
    /// The store these settings open and where that choice came from (JPKI_DB, the
    /// <c>database</c> key of jpki.json, or the default of a home without jpki.json), so that an
    /// error about the store can say which one was opened and why.
    /// </summary>
    public StoreLocation Store => Environment.GetEnvironmentVariable("JPKI_DB") is { Length: > 0 } db
        ? new StoreLocation(Resolve(db), "JPKI_DB")
        : new StoreLocation(Resolve(Database), SettingsFile is null ? $"the default: no {FileName} in {Home}" : $"\"database\" in {SettingsFile}");

    public string ModulePath =>
        Environment.GetEnvironmentVariable("JPKI_PKCS11_MODULE") is { Length: > 0 } m ? m : Hsm.Module;

    /// <summary>How the audit log of this install checkpoints.</summary>
    public AuditOptions AuditOptions() => new()
    {
        CheckpointEveryRecords = Audit.CheckpointEveryRecords,
        CheckpointInterval = TimeSpan.FromSeconds(Audit.CheckpointIntervalSeconds),
        CheckpointFilePath = Resolve(Audit.CheckpointFile),
        TailCheckpointInterval = TimeSpan.FromSeconds(Audit.TailCheckpointSeconds),
        Witness = Audit.Witness is { Length: > 0 } witness ? Resolve(witness) : null,
    };

    public string TokenLabel =>
        Environment.GetEnvironmentVariable("JPKI_HSM_TOKEN") is { Length: > 0 } t ? t : Hsm.TokenLabel;

    private void Validate(string path)
    {
        if (Prefectures.Count == 0)
        {
            throw new InvalidDataException($"{path}: at least one prefecture is required");
        }

        foreach (var p in Prefectures)
        {
            if (string.IsNullOrWhiteSpace(p.Name) || string.IsNullOrWhiteSpace(p.Kanji) || p.Code.Length != 2 || !p.Code.All(char.IsAsciiDigit))
            {
                throw new InvalidDataException($"{path}: prefecture '{p.Name}' needs a romanised name, a kanji name and a 2-digit code");
            }
        }

        if (Prefectures.Select(p => p.Slug).Distinct().Count() != Prefectures.Count)
        {
            throw new InvalidDataException($"{path}: prefecture names must be distinct");
        }

        if (Ceremony.ResponderRenewAfterDays < 0 || Ceremony.ResponderRenewAfterDays >= Ceremony.ResponderValidityDays)
        {
            throw new InvalidDataException($"{path}: ceremony.responderRenewAfterDays must be below responderValidityDays");
        }

        Audit.Validate(path, Resolve);
        Ocsp.MutualTls?.Validate(path, "ocsp.mutualTls");
        Crl.MutualTls?.Validate(path, "crl.mutualTls");
        Crl.Validate(path);
        Accounts.Validate(path);
        Clock.Validate(path);
        Ocsp.Archive.Validate(path);
        Verifier.Validate(path);
        Tsa.Validate(path);

        if (Ocsp.ValidityMinutes is < 1 or > 7 * 24 * 60 || Ocsp.StatusPollMilliseconds is < 10 or > 60_000 || Ocsp.MaxRequestBytes is < 256 or > 65_536 || Ocsp.MaxCachedAnswers is < 1 or > 10_000_000 || !(Ocsp.CacheMegabytes is >= 0.01 and <= 1_048_576))
        {
            throw new InvalidDataException($"{path}: ocsp settings out of range (validity 1 minute–7 days, poll 10 ms–60 s, request 256 B–64 KiB, cached answers 1–10,000,000, cacheMegabytes 0.01–1,048,576)");
        }

        if (ExpiryAlarms.RootDays is < 1 or > 7300 || ExpiryAlarms.ResponderDays is < 1 or > 3650 || ExpiryAlarms.CheckpointDays is < 1 or > 7300)
        {
            throw new InvalidDataException($"{path}: expiryAlarms out of range (rootDays 1–7300, responderDays 1–3650, checkpointDays 1–7300)");
        }

        if (Rollover.LeadDays is < 0 or > 3650)
        {
            throw new InvalidDataException($"{path}: rollover.leadDays must be 0–3650");
        }

        if (Ceremony.RootValidityYears is < 1 or > 20 || Ceremony.ResponderValidityDays is < 1 or > 366 || Ceremony.RsaBits is < 2048 or > 4096)
        {
            throw new InvalidDataException($"{path}: ceremony settings out of range (root 1–20 years, responder 1–366 days, RSA 2048–4096 bits)");
        }

        if (Feed.PollIntervalMs is < 50 or > 600_000 || Feed.BatchSize is < 1 or > 1000 || Feed.GapRefetchSeconds < 1 || Feed.GapAlarmMinutes < 1 || Feed.SilenceAlarmMinutes < 1 || Revocation.TwoOfficerWindowMinutes is < 1 or > 10_080 || Revocation.DeliveryConfirmMinutes is < 1 or > 1440)
        {
            throw new InvalidDataException($"{path}: feed or revocation settings out of range (poll 50 ms–10 min, batch 1–1000, alarms ≥ 1 min, two-officer window 1 min–7 days, delivery 1 min–24 h)");
        }
    }
}

public sealed record HsmSettings
{
    public string Module { get; init; } = "/usr/lib/softhsm/libsofthsm2.so";

    public string TokenLabel { get; init; } = "JPKI";

    /// <summary>The user PIN: from this environment variable if set, else from <see cref="UserPinFile"/>.</summary>
    public string UserPinEnvironmentVariable { get; init; } = "JPKI_HSM_PIN";

    public string UserPinFile { get; init; } = "{home}/secrets/hsm-user.pin";

    public string SoPinFile { get; init; } = "{home}/secrets/hsm-so.pin";

    public int IssuancePoolSize { get; init; } = 2;

    public int OcspPoolSize { get; init; } = 2;

    public int CrlPoolSize { get; init; } = 1;

    /// <summary>
    /// The longest wait between two re-initialisations of a module that lost its token (the
    /// first comes at once, then 250 ms doubling up to this); docs/hsm-faults.md.
    /// </summary>
    public int RecoveryMaxDelayMs { get; init; } = 5000;

    /// <summary>The recovery policy these settings make (at least 250 ms between attempts).</summary>
    public Jpki.Hsm.HsmRecoveryPolicy RecoveryPolicy() => Jpki.Hsm.HsmRecoveryPolicy.Default with
    {
        MaxDelay = TimeSpan.FromMilliseconds(Math.Max(250, RecoveryMaxDelayMs)),
    };
}

public sealed record PrefectureSettings
{
    public string Name { get; init; } = "Yamaguchi-ken";

    public string Kanji { get; init; } = "山口県";

    public string Code { get; init; } = "35";

    /// <summary>Lower-case name used in issuer and key ids (yamaguchi-ken).</summary>
    [JsonIgnore]
    public string Slug => Name.ToLowerInvariant();

    public Prefecture ToPrefecture() => new(Name, Kanji, Code);
}

public sealed record UrlSettings
{
    /// <summary>Public base of the OCSP responder as it goes into certificates (AIA).</summary>
    public string OcspBase { get; init; } = "http://127.0.0.1:8082";

    /// <summary>Public base of CRL distribution as it goes into certificates (CRL DP).</summary>
    public string CrlBase { get; init; } = "http://127.0.0.1:8083";

    public string Cps { get; init; } = "https://jpki.example.jp/cps";

    /// <summary>Base URL of the prefecture's Juki-Net server (the simulator by default).</summary>
    public string JukiNet { get; init; } = "http://127.0.0.1:8084";

    /// <summary>Where the CA API listens; loopback only until TLS is configured.</summary>
    public string CaListen { get; init; } = "http://127.0.0.1:8081";

    public string ArlUrl(string issuerKeyId) => $"{CrlBase.TrimEnd('/')}/crl/{issuerKeyId}/arl.crl";
}

public sealed record CeremonySettings
{
    public int RootValidityYears { get; init; } = 10;

    public int RsaBits { get; init; } = 2048;

    /// <summary><c>rsa2048</c> (what every JPKI verifier accepts) or <c>p256</c> (about ten times faster to sign).</summary>
    public string ResponderKey { get; init; } = "rsa2048";

    public int ResponderValidityDays { get; init; } = 90;

    /// <summary>The CA renews a responder certificate this many days after its notBefore (60 of 90, docs/jpki-profile.md §8).</summary>
    public int ResponderRenewAfterDays { get; init; } = 60;
}

/// <summary>The CRL publisher (port 8083): where CRLs go, how often, and who may fetch them.</summary>
public sealed record RolloverSettings
{
    /// <summary>
    /// Days between the publication of a new generation's root and fingerprint and the switch of
    /// issuance to it: verifiers pin each generation, and a certificate under a root they have not
    /// installed yet fails at every verifier.
    /// </summary>
    public int LeadDays { get; init; } = 30;
}

/// <summary>
/// How long before its notAfter a certificate the CA depends on, still without a successor, turns
/// the CA's <c>/healthz</c> degraded and writes a <c>certificate.expiry-alarm</c> audit record.
/// </summary>
public sealed record ExpiryAlarmSettings
{
    /// <summary>
    /// An issuer generation's root with no newer generation: 1,900 days (5.2 years) by default,
    /// because a resident certificate is valid up to 5 years and never outlives its root, so a root
    /// closer to its end than that already shortens what it issues; a new generation (rollover,
    /// with its lead time) is due.
    /// </summary>
    public int RootDays { get; init; } = 1900;

    /// <summary>
    /// The newest delegated OCSP responder certificate of an active key: the CA renews it a month
    /// before its end (ceremony.responderRenewAfterDays), so two weeks left means renewal failed.
    /// </summary>
    public int ResponderDays { get; init; } = 14;

    /// <summary>The audit-checkpoint key's certificate with no newer checkpoint key: auditors must re-pin in time.</summary>
    public int CheckpointDays { get; init; } = 365;
}

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

/// <summary>
/// An HTTPS listener with mutual TLS next to the plain HTTP one (<c>ocsp.mutualTls</c>,
/// <c>crl.mutualTls</c>): a client may present a certificate (not required, so token clients can
/// use it too); any certificate completes the handshake and the access policy then accepts it only
/// if it is registered to an enabled verifier. The server's own certificate and key are PEM files.
/// </summary>
public sealed record MutualTlsSettings
{
    /// <summary>e.g. <c>https://127.0.0.1:8092</c>.</summary>
    public string Listen { get; init; } = "";

    public string CertificateFile { get; init; } = "";

    /// <summary>The server key (PEM, unencrypted, mode 0600): it is a TLS key, not a CA key, so it is not in the HSM.</summary>
    public string KeyFile { get; init; } = "";

    internal void Validate(string path, string section)
    {
        if (!Listen.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || CertificateFile.Length == 0 || KeyFile.Length == 0)
        {
            throw new InvalidDataException($"{path}: {section} needs listen (https://...), certificateFile and keyFile");
        }
    }

    /// <summary>Loads the server certificate with its key; a missing or unreadable file is an <see cref="InvalidDataException"/> naming it.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2 LoadServerCertificate(Func<string, string> resolve)
    {
        ArgumentNullException.ThrowIfNull(resolve);
        var certificate = resolve(CertificateFile);
        var key = resolve(KeyFile);
        try
        {
            return System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(certificate, key);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new InvalidDataException($"the mutual-TLS listener's certificate '{certificate}' or key '{key}' cannot be loaded: {e.Message}", e);
        }
    }
}

/// <summary>The <c>feed</c> section: how the CA follows the Juki-Net change feed, and its alarms.</summary>
public sealed record FeedSettings
{
    public bool Enabled { get; init; } = true;

    public int PollIntervalMs { get; init; } = 1000;

    public int BatchSize { get; init; } = 500;

    /// <summary>How often the oldest open gap is asked for again.</summary>
    public int GapRefetchSeconds { get; init; } = 5;

    /// <summary>A gap open this long raises the alarm.</summary>
    public int GapAlarmMinutes { get; init; } = 10;

    /// <summary>No new event for this long raises the alarm.</summary>
    public int SilenceAlarmMinutes { get; init; } = 120;
}

/// <summary>The <c>revocation</c> section: revocations that are not the feed's.</summary>
public sealed record RevocationSettings
{
    /// <summary>How long a second officer has to approve an issuer-key compromise.</summary>
    public int TwoOfficerWindowMinutes { get; init; } = 60;

    /// <summary>A certificate whose delivery to the card is not confirmed this long after issuance is revoked.</summary>
    public int DeliveryConfirmMinutes { get; init; } = 30;
}

/// <summary>The OCSP responder (ocsp/Jpki.Ocsp, docs/design.md §6).</summary>
public sealed record OcspSettings
{
    /// <summary>Where the responder listens (<c>--urls</c> overrides). Public URLs are <see cref="UrlSettings.OcspBase"/>.</summary>
    public string Listen { get; init; } = "http://127.0.0.1:8082";

    /// <summary>nextUpdate − thisUpdate of every answer (J-LIS: 15 minutes); capped by the responder certificate's notAfter.</summary>
    public int ValidityMinutes { get; init; } = 15;

    /// <summary>A cached answer is served until this long before its nextUpdate, then signed again.</summary>
    public int ServeUntilSecondsBeforeNextUpdate { get; init; } = 60;

    /// <summary>Answers queried within the last <see cref="RefreshRecentlyQueriedMinutes"/> are re-signed this long before nextUpdate.</summary>
    public int RefreshSecondsBeforeNextUpdate { get; init; } = 180;

    public int RefreshRecentlyQueriedMinutes { get; init; } = 30;

    /// <summary>How often status_changes is read for revocations to re-sign at once.</summary>
    public int StatusPollMilliseconds { get; init; } = 250;

    /// <summary>Live (nonce) signatures per verifier: bucket size and refill per minute; over it the cached answer, without nonce.</summary>
    public int NonceSignaturesBurst { get; init; } = 20;

    public int NonceSignaturesPerMinute { get; init; } = 120;

    /// <summary>Signatures for never-issued serials per verifier (unknowns cannot be pre-signed); over it: tryLater.</summary>
    public int UnknownSignaturesBurst { get; init; } = 20;

    public int UnknownSignaturesPerMinute { get; init; } = 60;

    /// <summary>Source networks (CIDR) whose requests need no credentials, e.g. a closed government network. Empty by default.</summary>
    public List<string> AllowedNetworks { get; init; } = [];

    /// <summary>Largest POST body read; a larger one is a malformedRequest.</summary>
    public int MaxRequestBytes { get; init; } = 8192;

    /// <summary>
    /// The answer cache's memory budget: bytes of cached answers and their keys (about 2.4 KB an answer
    /// with an RSA-2048 responder); past it the least recently queried are evicted. Sizing: docs/ocsp.md.
    /// </summary>
    public double CacheMegabytes { get; init; } = 256;

    /// <summary>
    /// The older bound, a count of cached answers; null (the default) leaves only <see cref="CacheMegabytes"/>.
    /// Kept so existing jpki.json files still load; when set, both bounds apply.
    /// </summary>
    public int? MaxCachedAnswers { get; init; }

    /// <summary>An optional HTTPS listener where verifiers present registered client certificates (off when null).</summary>
    public MutualTlsSettings? MutualTls { get; init; }

    /// <summary>Days of the query log older than the hot window go to compressed files (<see cref="OcspArchiveSettings"/>).</summary>
    public OcspArchiveSettings Archive { get; init; } = new();
}
