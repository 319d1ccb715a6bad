using System.CommandLine;
using Jpki.Cli;
using Jpki.Core.Configuration;
using Jpki.Core.Store;
using Jpki.Hosting;
using Jpki.Verifier;
using Jpki.Verifier.Service;
using Microsoft.Extensions.Logging;

// The HTTP verification service: `dotnet Jpki.Verifier.Service.dll [--urls URL] [--ocsp URL] ...`
// (./jpki verify-service). Callers are the install's verifier accounts (docs/access-control.md).
UnixFiles.RestrictNewFilesToOwner();
return await CliApp.RunAsync(ServiceCommand.Build(), args.Length > 0 && args[0] == "verify-service" ? args : ["verify-service", .. args]);

internal static class ServiceCommand
{
    public static Command Build()
    {
        var urls = new Option<string>("--urls") { Description = "where to listen (default: verifier.listen in jpki.json, http://127.0.0.1:8086)", HelpName = "URL" };
        var ocsp = new Option<string>("--ocsp") { Description = "the OCSP responder asked (default: verifier.ocspUrl, http://127.0.0.1:8082/ocsp)", HelpName = "URL" };
        var tokenFile = new Option<string>("--token-file") { Description = "the service's own verifier token towards the responder (default: verifier.tokenFile, $JPKI_HOME/secrets/verifier.token)", HelpName = "F" };
        var roots = new Option<string>("--roots") { Description = "trusted roots (default: verifier.rootsDirectory, $JPKI_HOME/certs)", HelpName = "DIR" };
        var audience = new Option<string>("--login-audience") { Description = "check logins (type auth) for this audience; needs --login-key-file (default: verifier.login)", HelpName = "A" };
        var keyFile = new Option<string>("--login-key-file") { Description = "the login challenges' MAC key (≥ 32 bytes)", HelpName = "K" };
        var store = new Option<string>("--login-store") { Description = "the used-challenge store every instance shares (default: SQLite $JPKI_HOME/verifier-logins.db)", HelpName = "CONNECTION" };
        var command = new Command("verify-service", "The HTTP verification service: POST /api/v1/verify (CMS, XML or a login) answers the JSON of jpki verify --json. Settings: the verifier section of jpki.json; options override it.")
        {
            urls, ocsp, tokenFile, roots, audience, keyFile, store,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = JpkiSettings.Load(JpkiSettings.HomeFromEnvironment(), writeDefaults: false);
            if (StoreCheck.Refusal(settings, Console.Error) is { } refused)
            {
                return refused;
            }

            var section = settings.Verifier;
            var token = parse.GetValue(tokenFile) ?? settings.Resolve(section.TokenFile);
            LoginSettings? login = null;
            if (parse.GetValue(audience) is { } a)
            {
                var key = await File.ReadAllBytesAsync(parse.GetValue(keyFile) ?? throw new ArgumentException("--login-audience needs --login-key-file"), cancellationToken);
                login = new LoginSettings(a, key, parse.GetValue(store) ?? settings.Resolve(section.Login?.Store ?? new VerifierLoginSettings().Store));
            }
            else if (section.Login is { } configured)
            {
                login = new LoginSettings(configured.Audience, await File.ReadAllBytesAsync(settings.Resolve(configured.KeyFile), cancellationToken), parse.GetValue(store) ?? settings.Resolve(configured.Store));
            }

            var app = VerifyServiceHost.Build(new VerifyServiceOptions
            {
                ListenUrl = parse.GetValue(urls) ?? section.Listen,
                StoreConnectionString = settings.ConnectionString,
                Roots = TrustAnchors.FromDirectory(parse.GetValue(roots) ?? settings.Resolve(section.RootsDirectory)),
                Revocation = new RevocationSource.Ocsp(new Uri(parse.GetValue(ocsp) ?? section.OcspUrl), File.Exists(token) ? (await File.ReadAllTextAsync(token, cancellationToken)).Trim() : null),
                Login = login,
                MaxRequestBytes = section.MaxRequestBytes,
                MutualTls = section.MutualTls is { } tls ? new MutualTlsListener(tls.Listen, tls.LoadServerCertificate(settings.Resolve)) : null,
            });
            await app.StartAsync(CancellationToken.None);
            app.Logger.LogInformation("verification service listening on {Urls}", string.Join(' ', app.Urls));
            await app.WaitForShutdownAsync(CancellationToken.None);
            return 0;
        });
        command.WithExamples(
                "./jpki verify-service",
                "./jpki verify-service --urls http://127.0.0.1:8086 --login-audience https://e-filing.example/login --login-key-file login-mac.key")
            .WithExitCodes([(0, "stopped by SIGTERM or Ctrl-C"), (CrashReport.ExitCode, "failed to start or an unexpected failure (one line; details in the crash log)")]);
        var root = CliApp.Root("jpki", "The JPKI verification service.");
        root.Subcommands.Add(command);
        return root;
    }
}
