using Jpki.Core.Configuration;
using Jpki.Hsm;
using Jpki.Ocsp;

// The OCSP responder process: `dotnet Jpki.Ocsp.dll [--urls URL]`. Settings from $JPKI_HOME/jpki.json
// (ocsp.*); SOFTHSM2_CONF comes from the process environment (set by ./jpki).
var settings = JpkiSettings.Load(JpkiSettings.HomeFromEnvironment());
var listen = settings.Ocsp.Listen;
for (var i = 0; i < args.Length - 1; i++)
{
    if (args[i] == "--urls")
    {
        listen = args[i + 1];
    }
}

using var module = Pkcs11Module.Load(settings.ModulePath);
var app = OcspHost.Build(settings, module, new OcspOptions { ListenUrl = listen });
await app.StartAsync();
Console.Out.WriteLine($"OCSP responder listening on {string.Join(' ', app.Urls)}");
await app.WaitForShutdownAsync();
