using System.CommandLine;
using Jpki.Cli;
using Jpki.Core.Configuration;
using Jpki.Core.Store;
using Jpki.CrlPublisher;
using Jpki.Hosting;
using Jpki.Hsm;
using Microsoft.Extensions.Logging;

// The CRL publisher: `dotnet Jpki.CrlPublisher.dll [--urls URL]` serves and schedules;
// `dotnet Jpki.CrlPublisher.dll publish [--delta]` publishes once (./jpki crl publish) and exits.
// Owner-only files from here on (umask 077): var/ holds password and token hashes and the audit log.
UnixFiles.RestrictNewFilesToOwner();
return await CliApp.RunAsync(CrlCommands.Build(), args.Length > 0 && args[0] == "crl" ? args : ["crl", .. args]);

internal static class CrlCommands
{
    public static Command Build()
    {
        var urls = new Option<string>("--urls") { Description = "where to listen (default: crl.listen of jpki.json, http://127.0.0.1:8083)", HelpName = "URL" };
        var mutualTls = new Option<string>("--mutual-tls-urls") { Description = "where the mutual-TLS listener listens, if crl.mutualTls is set (default: its listen; ./jpki up --instances N gives each instance its own)", HelpName = "URL" };
        var crl = new Command("crl", "The CRL publisher: without a verb it serves the CRLs over HTTP and publishes them on schedule (./jpki up starts it).") { urls, mutualTls };
        crl.SetAction(async (parse, _) =>
        {
            var settings = JpkiSettings.Load(JpkiSettings.HomeFromEnvironment(), writeDefaults: false);
            if (StoreCheck.Refusal(settings, Console.Error) is { } refused)
            {
                return refused;
            }

            if (parse.GetValue(mutualTls) is { } listen && settings.Crl.MutualTls is { } tls)
            {
                settings = settings with { Crl = settings.Crl with { MutualTls = tls with { Listen = listen } } };
            }

            try
            {
                using var module = Pkcs11Module.Load(settings.ModulePath);
                var app = CrlHost.Build(settings, module, new CrlHostOptions { ListenUrl = parse.GetValue(urls) ?? settings.Crl.Listen });
                // The host stops on SIGTERM / Ctrl-C itself (System.CommandLine's handling is off).
                await app.StartAsync(CancellationToken.None);
                app.Logger.LogInformation("CRL publisher listening on {Urls}", string.Join(' ', app.Urls));
                await app.WaitForShutdownAsync(CancellationToken.None);
                return Environment.ExitCode;
            }
            catch (SchemaUpgradeRefusedException e)
            {
                // Its code predates a contracting migration the store carries (docs/decisions/0530): one line, exit 7.
                Console.Error.WriteLine($"error: {e.Message}");
                return SchemaUpgradeRefusedException.RefusedExitCode;
            }
        });
        crl.WithExamples("./jpki crl publish", "dotnet crl-publisher/Jpki.CrlPublisher/bin/Release/net10.0/Jpki.CrlPublisher.dll --urls http://127.0.0.1:8083")
            .WithExitCodes([(0, "stopped by SIGTERM or Ctrl-C"), (1, "failed to start"), (SchemaUpgradeRefusedException.RefusedExitCode, "the store's schema has a contracting migration newer than this code (docs/deployment.md#rolling-upgrade)"), .. StoreExitCodes]);

        var delta = new Option<bool>("--delta") { Description = "publish delta CRLs (a series without a complete CRL gets one first)" };
        var publish = new Command("publish", "Publish a complete CRL (or a delta) of every series now, and exit.") { delta };
        publish.SetAction(parse => Publish(parse.GetValue(delta)));
        crl.Subcommands.Add(publish
            .WithExamples("./jpki crl publish", "./jpki crl publish --delta")
            .WithExitCodes([(0, "every series published (one line each on standard output)"), (1, "a series failed (each named), or the clock check refused to sign: nothing of those was published"), .. StoreExitCodes]));

        var root = CliApp.Root("jpki", "The JPKI CRL publisher.");
        root.Subcommands.Add(crl);
        return root;
    }

    /// <summary>The exit codes of a store that is not this install's (docs/cli.md), and of an unexpected failure.</summary>
    private static (int, string)[] StoreExitCodes =>
    [
        (StoreUnusableException.NoInstallExitCode, "no install in the store: the SQLite file or database is missing, or holds no install"),
        (StoreUnusableException.ForeignExitCode, "another install's store, or not a JPKI store"),
        (StoreUnusableException.UnreachableExitCode, "the store cannot be reached"),
        (CrashReport.ExitCode, "unexpected failure (one line; details in $JPKI_HOME/logs/Jpki.CrlPublisher-crash.log)"),
    ];

    private static int Publish(bool delta)
    {
        var settings = JpkiSettings.Load(JpkiSettings.HomeFromEnvironment(), writeDefaults: false);
        if (StoreCheck.Refusal(settings, Console.Error) is { } refused)
        {
            return refused;
        }

        using var module = Pkcs11Module.Load(settings.ModulePath);
        using var loggers = LoggerFactory.Create(logging => logging.AddSimpleConsole());
        using var services = CrlPublisherServices.Open(settings, module, TimeProvider.System, loggers);
        var progress = new StepProgress(services.Publisher.AllSeries().Count(s => !delta || s.HasDeltas));
        try
        {
            var published = services.Publisher.PublishAll(delta, scheduled: false, starting: series => progress.Step($"building {series.IssuerKeyId}/{series.FileName(delta)}"));
            foreach (var crl in published)
            {
                Console.Out.WriteLine($"{crl.Series.IssuerKeyId}/{crl.Series.FileName(crl.Delta)} number {crl.Number} entries {crl.EntryCount} thisUpdate {crl.ThisUpdate:O} nextUpdate {crl.NextUpdate:O} sha256 {crl.Sha256}");
            }

            progress.Done($"{published.Count} CRLs published");
        }
        catch (Jpki.Core.Clock.ClockUnsynchronisedException e)
        {
            Console.Error.WriteLine("error: " + e.Message + "; nothing was published");
            return 1;
        }
        catch (AggregateException e)
        {
            foreach (var inner in e.InnerExceptions)
            {
                Console.Error.WriteLine("error: " + inner.Message);
            }

            return 1;
        }

        return 0;
    }
}
