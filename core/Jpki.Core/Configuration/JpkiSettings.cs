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

/// <summary>The <c>rollover</c> section: issuer key generations.</summary>
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
