using Jpki.Ca;
using Jpki.Cli;
using Jpki.Core.Configuration;
using Jpki.Core.Store;
using Jpki.Hosting;
using Jpki.Hsm;

// The CA API process: `dotnet Jpki.Ca.dll [--urls URL]`. Settings from $JPKI_HOME/jpki.json;
// SOFTHSM2_CONF comes from the process environment (set by ./jpki), which SoftHSM reads itself.
// Owner-only files from here on (umask 077): var/ holds password and token hashes and the audit log.
UnixFiles.RestrictNewFilesToOwner();
try
{
    // A CA pointed at a wrong home or store stops here with one line, before anything creates or
    // migrates an empty store (docs/decisions/0500).
    var settings = JpkiSettings.Load(JpkiSettings.HomeFromEnvironment(), writeDefaults: false);
    if (StoreCheck.Refusal(settings, Console.Error) is { } refused)
    {
        return refused;
    }

    var listen = ServiceHost.UrlsArgument(args, settings.Urls.CaListen);

    using var module = Pkcs11Module.Load(settings.ModulePath);
    var app = CaHost.Build(settings, module, new CaOptions
    {
        ListenUrl = listen,
        JukiNetBaseAddress = new Uri(settings.Urls.JukiNet.TrimEnd('/') + "/"),
        Feed = new FeedOptions
        {
            Enabled = settings.Feed.Enabled,
            PollInterval = TimeSpan.FromMilliseconds(settings.Feed.PollIntervalMs),
            BatchSize = settings.Feed.BatchSize,
            GapRefetchInterval = TimeSpan.FromSeconds(settings.Feed.GapRefetchSeconds),
            GapAlarmAfter = TimeSpan.FromMinutes(settings.Feed.GapAlarmMinutes),
            SilenceAlarmAfter = TimeSpan.FromMinutes(settings.Feed.SilenceAlarmMinutes),
        },
        TwoOfficerWindow = TimeSpan.FromMinutes(settings.Revocation.TwoOfficerWindowMinutes),
        Delivery = new DeliveryOptions { ConfirmWithin = TimeSpan.FromMinutes(settings.Revocation.DeliveryConfirmMinutes) },
    });
    await app.StartAsync();
    app.Logger.LogInformation("CA API listening on {Urls}", string.Join(' ', app.Urls));
    await app.WaitForShutdownAsync();
    return Environment.ExitCode;
}
catch (SchemaUpgradeRefusedException e)
{
    // Its code predates a contracting migration the store carries (docs/decisions/0530): one line, exit 7.
    Console.Error.WriteLine($"error: {e.Message}");
    return SchemaUpgradeRefusedException.RefusedExitCode;
}
catch (Exception e)
{
    return CrashReport.Write(e, Console.Error);
}
