using Jpki.Core.Audit;
using Jpki.Core.Clock;
using Jpki.Core.Configuration;
using Jpki.Core.Issuance;
using Jpki.Core.Issuers;
using Jpki.Core.Revocation;
using Jpki.Core.Signatures;
using Jpki.Core.Store;
using Jpki.Hosting;
using Jpki.Hsm;
using Jpki.JukiNet;
using Microsoft.Extensions.Logging;

namespace Jpki.Ca;

/// <summary>
/// What the CA process opens once at start-up and shares between requests: the token and its
/// issuance session pool, the issuer keys' signers (opened when first needed), the resident-code HMAC key, the
/// audit log (with the checkpoint key), the migrated store and the Juki-Net client.
/// </summary>
public sealed class CaServices : IDisposable
{
    public const string ResidentHmacKeyId = "resident-hmac-v1";
    public const string CheckpointKeyId = "audit-checkpoint-1";

    private readonly OwnedResources owned = new();

    private CaServices(JpkiSettings settings, CaOptions options)
    {
        Settings = settings;
        Options = options;
    }

    public JpkiSettings Settings { get; }

    public CaOptions Options { get; }

    public Database Database { get; private set; } = null!;

    public HsmToken Token { get; private set; } = null!;

    /// <summary>This instance's row in <c>store_clients</c> (rolling upgrades, docs/decisions/0530); its heartbeat is a hosted loop.</summary>
    public StoreClientRegistration StoreClient { get; private set; } = null!;

    public SessionPool IssuancePool { get; private set; } = null!;

    public Pkcs11Hmac ResidentHmac { get; private set; } = null!;

    public AuditLog Audit { get; private set; } = null!;

    /// <summary>The audit log's tail timer and witness pusher (a hosted loop of the CA).</summary>
    public AuditRuntime AuditRuntime { get; private set; } = null!;

    public JukiNetClient JukiNet { get; private set; } = null!;

    /// <summary>Whether the clock is good enough to sign certificates (<c>clock.*</c>, docs/clock.md).</summary>
    public ClockGuard Clock { get; private set; } = null!;

    /// <summary>Every revocation of the CA goes through this one (rule table, status change, audit).</summary>
    public CertificateRevoker Revoker { get; private set; } = null!;

    /// <summary>Closes signature intents a killed process left open (docs/decisions/0250).</summary>
    public AbandonedIntents AbandonedIntents { get; private set; } = null!;

    public JukiNetFeedApplier FeedApplier { get; private set; } = null!;

    /// <summary>Re-initialises the module after a token loss and audits the outage (<c>hsm.alarm</c>, <c>hsm.recovered</c>); a hosted loop.</summary>
    public Jpki.Core.HsmFaults.HsmOutageWatch HsmWatch { get; private set; } = null!;

    /// <summary>For the health probe of Juki-Net (<c>GET {base}/healthz</c>), short timeout.</summary>
    public HttpClient HealthProbeHttp { get; private set; } = null!;

    /// <summary>The issuer keys: which one signs new certificates of an issuer now, and every active one (responder renewal).</summary>
    public IssuingKeys IssuerKeys { get; private set; } = null!;

    /// <exception cref="InvalidOperationException">The store lacks what the key ceremony makes: run <c>./jpki hsm init</c>.</exception>
    public static CaServices Open(JpkiSettings settings, Pkcs11Module module, CaOptions options, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        var services = new CaServices(settings, options);
        try
        {
            services.OpenAll(module, loggers);
            return services;
        }
        catch
        {
            services.Dispose();
            throw;
        }
    }

    private void OpenAll(Pkcs11Module module, ILoggerFactory loggers)
    {
        Database = Own(new Database(Settings.ConnectionString, Options.Time));
        var code = Options.Migrations ?? MigrationSet.Embedded;
        Migrator.ApplyAtStart(Database, code, loggers.CreateLogger<CaServices>());
        StoreClient = StoreClientRegistration.Register(Database, "ca", code, loggers.CreateLogger<StoreClientRegistration>());

        var pin = PinSource.FromEnvironmentOrFile(Settings.Hsm.UserPinEnvironmentVariable, Settings.Resolve(Settings.Hsm.UserPinFile));
        Token = Own(HsmToken.Open(module, Settings.TokenLabel, pin, loggers.CreateLogger("Jpki.Hsm")));
        IssuancePool = Own(Token.CreatePool("issuance", Settings.Hsm.IssuancePoolSize, time: Options.Time));

        using var db = Database.OpenConnection();
        var hmacKey = IssuerStore.FindInstallKey(db, ResidentHmacKeyId)
            ?? throw new InvalidOperationException($"the store has no install key '{ResidentHmacKeyId}': run ./jpki hsm init");
        ResidentHmac = Own(Pkcs11Hmac.Open(IssuancePool, hmacKey.HsmKeyLabel));
        // The key that signs now: after a checkpoint-key handover, the new one (decision 0421).
        var checkpointKey = IssuerStore.CurrentCheckpointKey(db)
            ?? throw new InvalidOperationException("the store has no audit-checkpoint key: run ./jpki hsm init");
        AuditRuntime = Own(new AuditRuntime(Own(Pkcs11Signer.Open(IssuancePool, checkpointKey.HsmKeyLabel)), Database, Settings.AuditOptions(), loggers));
        Audit = AuditRuntime.Log;
        // A previous process may have been killed between a commit and its checkpoint-file append.
        Audit.RecoverCheckpointFile(Database);

        module.Recovery.Policy = Settings.Hsm.RecoveryPolicy();
        HsmWatch = new Jpki.Core.HsmFaults.HsmOutageWatch(module, Database, Audit, "system/ca", loggers.CreateLogger<Jpki.Core.HsmFaults.HsmOutageWatch>());
        Clock = new ClockGuard(Options.ClockSource ?? new SystemClockSyncSource(Settings.Clock, Options.Time), Settings.Clock, Database, Audit, "system/ca", loggers.CreateLogger<ClockGuard>());
        Revoker = new CertificateRevoker(Audit);
        AbandonedIntents = new AbandonedIntents(Database, Audit, TimeSpan.FromSeconds(Settings.Audit.AbandonedIntentSeconds), "system/ca", loggers.CreateLogger<AbandonedIntents>());
        FeedApplier = new JukiNetFeedApplier(Revoker, Audit, ResidentKey, ResidentHmacKeyId);

        IssuerKeys = Own(new IssuingKeys(Database, IssuancePool));
        if (IssuerKeys.Active().Count == 0)
        {
            throw new InvalidOperationException("the store lists no active issuer key: run ./jpki hsm init");
        }

        // Our own HttpClient, not IHttpClientFactory: the factory logs request URIs, and lookup URIs carry resident codes.
        var http = Own(new HttpClient());
        HealthProbeHttp = Own(new HttpClient { Timeout = TimeSpan.FromSeconds(2) });
        JukiNet = new JukiNetClient(
            http,
            new JukiNetClientOptions
            {
                BaseAddress = Options.JukiNetBaseAddress,
                MaxAttempts = Options.JukiNetMaxAttempts,
                FirstRetryDelay = Options.JukiNetFirstRetryDelay,
            },
            loggers.CreateLogger<JukiNetClient>(),
            Options.Time);
    }

    /// <summary>The keyed hash the store keeps instead of a resident code.</summary>
    public byte[] ResidentKey(ResidentCode code)
    {
        ArgumentNullException.ThrowIfNull(code);
        return ResidentHmac.Compute(System.Text.Encoding.ASCII.GetBytes(code.Digits));
    }

    private T Own<T>(T disposable)
        where T : IDisposable => owned.Own(disposable);

    public void Dispose() => owned.Dispose();
}
