using Jpki.Cli;
using Jpki.Core.Configuration;
using Jpki.Core.Store;
using Jpki.Hosting;
using Jpki.Hsm;
using Jpki.Ocsp;

// The OCSP responder process: `dotnet Jpki.Ocsp.dll [--urls URL] [--mutual-tls-urls URL]`. Settings from $JPKI_HOME/jpki.json
// (ocsp.*); SOFTHSM2_CONF comes from the process environment (set by ./jpki).
// Owner-only files from here on (umask 077): var/ holds password and token hashes and the audit log.
UnixFiles.RestrictNewFilesToOwner();
try
{
    // A responder pointed at a wrong home or store stops here with one line, before anything
    // creates or migrates an empty store (docs/decisions/0500).
    var settings = JpkiSettings.Load(JpkiSettings.HomeFromEnvironment(), writeDefaults: false);
    if (StoreCheck.Refusal(settings, Console.Error) is { } refused)
    {
        return refused;
    }

    var listen = ServiceHost.UrlsArgument(args, settings.Ocsp.Listen);
    // --mutual-tls-urls URL: an instance's own mutual-TLS port (./jpki up --instances N).
    if (ServiceHost.OptionArgument(args, "--mutual-tls-urls") is { } tlsListen && settings.Ocsp.MutualTls is { } tls)
    {
        settings = settings with { Ocsp = settings.Ocsp with { MutualTls = tls with { Listen = tlsListen } } };
    }

    using var module = Pkcs11Module.Load(settings.ModulePath);
    var app = OcspHost.Build(settings, module, new OcspOptions { ListenUrl = listen });
    await app.StartAsync();
    app.Logger.LogInformation("OCSP responder listening on {Urls}", string.Join(' ', app.Urls));
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
