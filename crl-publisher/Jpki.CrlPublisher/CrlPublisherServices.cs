using Jpki.Core.Audit;
using Jpki.Core.Clock;
using Jpki.Core.Configuration;
using Jpki.Core.Issuers;
using Jpki.Core.Store;
using Jpki.Hosting;
using Jpki.Hsm;
using Microsoft.Extensions.Logging;

namespace Jpki.CrlPublisher;

/// <summary>
/// What the publisher process opens once: the migrated store, the token with its own CRL
/// session pool (so CRL signing never starves issuance or OCSP), the audit log and one signer
/// per issuer key that still signs CRLs (active: not compromised, not retired, root not expired).
/// </summary>
public sealed class CrlPublisherServices : IDisposable
{
    public const string CheckpointKeyId = "audit-checkpoint-1";

    private readonly OwnedResources owned = new();

    private CrlPublisherServices()
    {
    }

    public Database Database { get; private set; } = null!;

    public SessionPool Pool { get; private set; } = null!;

    public SeriesPublisher Publisher { get; private set; } = null!;

    public AuditLog Audit { get; private set; } = null!;

    /// <summary>The audit log's tail timer and witness pusher (a hosted loop of the publisher).</summary>
    public AuditRuntime AuditRuntime { get; private set; } = null!;

    /// <summary>The issuer keys the publisher signs with, read again while it runs (new key generations join without a restart).</summary>
    public CrlSigningKeys SigningKeys { get; private set; } = null!;

    /// <summary>Whether the clock is good enough to sign CRLs (<c>clock.*</c>, docs/clock.md).</summary>
    public ClockGuard Clock { get; private set; } = null!;

    /// <summary>Re-initialises the module after a token loss and audits the outage (<c>hsm.alarm</c>, <c>hsm.recovered</c>); a hosted loop.</summary>
    public Jpki.Core.HsmFaults.HsmOutageWatch HsmWatch { get; private set; } = null!;

    /// <summary>Publications the clock check refused, published when it passes again.</summary>
    public DeferredCrlPublications Deferred { get; private set; } = null!;

    /// <param name="clockSource">Where the clock's synchronisation status comes from; null: chrony or systemd-timesyncd. Tests pass a fake.</param>
    public static CrlPublisherServices Open(JpkiSettings settings, Pkcs11Module module, TimeProvider time, ILoggerFactory loggers, Action<string>? afterWrite = null, IClockSyncSource? clockSource = null, Action<CrlBuildOutcome>? built = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(loggers);
        var services = new CrlPublisherServices();
        try
        {
            services.OpenAll(settings, module, time, loggers, afterWrite, clockSource, built);
            return services;
        }
        catch
        {
            services.Dispose();
            throw;
        }
    }

    public static CrlPublisherOptions OptionsFrom(JpkiSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new CrlPublisherOptions
        {
            Directory = settings.Resolve(settings.Crl.Directory),
            ArchiveDirectory = settings.Resolve(settings.Crl.ArchiveDirectory),
            CrlBase = settings.Urls.CrlBase,
            CompleteValidity = TimeSpan.FromHours(settings.Crl.CompleteValidityHours),
            DeltaValidity = TimeSpan.FromMinutes(settings.Crl.DeltaValidityMinutes),
            Backdate = TimeSpan.FromSeconds(settings.Crl.BackdateSeconds),
        };
    }

    private void OpenAll(JpkiSettings settings, Pkcs11Module module, TimeProvider time, ILoggerFactory loggers, Action<string>? afterWrite, IClockSyncSource? clockSource, Action<CrlBuildOutcome>? built)
    {
        Database = Own(new Database(settings.ConnectionString, time));
        Migrator.ApplyAtStart(Database, MigrationSet.Embedded, loggers.CreateLogger<CrlPublisherServices>());
        var pin = PinSource.FromEnvironmentOrFile(settings.Hsm.UserPinEnvironmentVariable, settings.Resolve(settings.Hsm.UserPinFile));
        var token = Own(HsmToken.Open(module, settings.TokenLabel, pin, loggers.CreateLogger("Jpki.Hsm")));
        Pool = Own(token.CreatePool("crl", Math.Max(1, settings.Hsm.CrlPoolSize), time: time));

        using var db = Database.OpenConnection();
        // The key that signs now: after a checkpoint-key handover, the new one (decision 0421).
        var checkpointKey = IssuerStore.CurrentCheckpointKey(db)
            ?? throw new InvalidOperationException("the store has no audit-checkpoint key: run ./jpki hsm init");
        AuditRuntime = Own(new AuditRuntime(Own(Pkcs11Signer.Open(Pool, checkpointKey.HsmKeyLabel)), Database, settings.AuditOptions(), loggers));
        Audit = AuditRuntime.Log;
        // As the CA does: a process killed between a commit and its checkpoint-file append left
        // checkpoints in the store only; copy that tail before this process appends anything.
        Audit.RecoverCheckpointFile(Database);

        SigningKeys = Own(new CrlSigningKeys(Database, Pool));
        SigningKeys.Refresh();
        if (SigningKeys.Current.Count == 0)
        {
            throw new InvalidOperationException("the store lists no issuer key that signs CRLs: run ./jpki hsm init");
        }

        module.Recovery.Policy = settings.Hsm.RecoveryPolicy();
        HsmWatch = new Jpki.Core.HsmFaults.HsmOutageWatch(module, Database, Audit, SeriesPublisher.Actor, loggers.CreateLogger<Jpki.Core.HsmFaults.HsmOutageWatch>());
        Clock = new ClockGuard(clockSource ?? new SystemClockSyncSource(settings.Clock, time), settings.Clock, Database, Audit, SeriesPublisher.Actor, loggers.CreateLogger<ClockGuard>());
        Publisher = new SeriesPublisher(Database, Audit, () => SigningKeys.Current, OptionsFrom(settings) with { AfterWrite = afterWrite, Clock = Clock, Built = built });
        Deferred = new DeferredCrlPublications(Publisher, Clock, time, loggers.CreateLogger<DeferredCrlPublications>());
    }

    private T Own<T>(T disposable)
        where T : IDisposable => owned.Own(disposable);

    public void Dispose() => owned.Dispose();
}
