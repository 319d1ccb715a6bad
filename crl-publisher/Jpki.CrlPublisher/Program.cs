using Jpki.Core.Configuration;
using Jpki.CrlPublisher;
using Jpki.Hosting;
using Jpki.Hsm;
using Microsoft.Extensions.Logging;

// The CRL publisher: `dotnet Jpki.CrlPublisher.dll [--urls URL]` serves and schedules;
// `dotnet Jpki.CrlPublisher.dll publish [--delta]` publishes once (./jpki crl publish) and exits.
// Owner-only files from here on (umask 077): var/ holds password and token hashes and the audit log.
UnixFiles.RestrictNewFilesToOwner();
var settings = JpkiSettings.Load(JpkiSettings.HomeFromEnvironment());
using var module = Pkcs11Module.Load(settings.ModulePath);
if (args.Length > 0 && args[0] == "publish")
{
    var delta = args.Contains("--delta");
    using var loggers = LoggerFactory.Create(logging => logging.AddSimpleConsole());
    using var services = CrlPublisherServices.Open(settings, module, TimeProvider.System, loggers);
    try
    {
        foreach (var crl in services.Publisher.PublishAll(delta, scheduled: false))
        {
            Console.Out.WriteLine($"{crl.Series.IssuerKeyId}/{crl.Series.FileName(crl.Delta)} number {crl.Number} entries {crl.EntryCount} thisUpdate {crl.ThisUpdate:O} nextUpdate {crl.NextUpdate:O} sha256 {crl.Sha256}");
        }
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

var listen = ServiceHost.UrlsArgument(args, settings.Crl.Listen);

var app = CrlHost.Build(settings, module, new CrlHostOptions { ListenUrl = listen });
await app.StartAsync();
Console.Out.WriteLine($"CRL publisher listening on {string.Join(' ', app.Urls)}");
await app.WaitForShutdownAsync();
return 0;
