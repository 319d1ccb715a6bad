using Jpki.Core.Configuration;
using Jpki.Hosting;
using Jpki.Hsm;
using Jpki.Ocsp;

// The OCSP responder process: `dotnet Jpki.Ocsp.dll [--urls URL]`. Settings from $JPKI_HOME/jpki.json
// (ocsp.*); SOFTHSM2_CONF comes from the process environment (set by ./jpki).
// Owner-only files from here on (umask 077): var/ holds password and token hashes and the audit log.
UnixFiles.RestrictNewFilesToOwner();
var settings = JpkiSettings.Load(JpkiSettings.HomeFromEnvironment());
var listen = ServiceHost.UrlsArgument(args, settings.Ocsp.Listen);

using var module = Pkcs11Module.Load(settings.ModulePath);
var app = OcspHost.Build(settings, module, new OcspOptions { ListenUrl = listen });
await app.StartAsync();
app.Logger.LogInformation("OCSP responder listening on {Urls}", string.Join(' ', app.Urls));
await app.WaitForShutdownAsync();
