using System.CommandLine;
using Jpki.Cli;
using Jpki.Core.Configuration;
using Jpki.Hosting;
using Jpki.Hsm;
using Jpki.Tsa;
using Microsoft.Extensions.Logging;

// The time-stamping service: `dotnet Jpki.Tsa.dll [--urls URL]` serves RFC 3161 on POST /tsa;
// `dotnet Jpki.Tsa.dll init` (./jpki tsa init) makes its HSM key and certificate once.
UnixFiles.RestrictNewFilesToOwner();
return await CliApp.RunAsync(TsaCommands.Build(), args.Length > 0 && args[0] == "tsa" ? args : ["tsa", .. args]);

internal static class TsaCommands
{
    public static Command Build()
    {
        var urls = new Option<string>("--urls") { Description = $"where to listen (default: tsa.listen in jpki.json, {TsaOptions.DefaultListen})", HelpName = "URL" };
        var tsa = new Command("tsa", "The RFC 3161 time-stamping service on the install's HSM key: without a verb it serves POST /tsa.") { urls };
        tsa.SetAction(async (parse, _) =>
        {
            var settings = JpkiSettings.Load(JpkiSettings.HomeFromEnvironment(), writeDefaults: false);
            using var module = Pkcs11Module.Load(settings.ModulePath);
            var app = TsaHost.Build(settings, module, new TsaOptions { ListenUrl = parse.GetValue(urls) ?? settings.Tsa.Listen });
            await app.StartAsync(CancellationToken.None);
            app.Logger.LogInformation("time-stamping service listening on {Urls}", string.Join(' ', app.Urls));
            await app.WaitForShutdownAsync(CancellationToken.None);
            return 0;
        });
        tsa.WithExamples("./jpki tsa init", "dotnet tsa/Jpki.Tsa/bin/Release/net10.0/Jpki.Tsa.dll --urls http://127.0.0.1:8085")
            .WithExitCodes([(0, "stopped by SIGTERM or Ctrl-C"), (CrashReport.ExitCode, "failed to start or an unexpected failure (one line; details in the crash log)")]);

        var init = new Command("init", "Make the TSA key (label tsa-1) in the install's token and its self-signed certificate ($JPKI_HOME/tsa/tsa.pem) if they are missing; a second run changes nothing.");
        init.SetAction(_ => Init());
        tsa.Subcommands.Add(init
            .WithExamples("./jpki tsa init")
            .WithExitCodes([(0, "the key and certificate exist (made now or before)"), (1, "the token holds the key but the certificate is missing, or the certificate does not match the key")]));
        var root = CliApp.Root("jpki", "The JPKI time-stamping service.");
        root.Subcommands.Add(tsa);
        return root;
    }

    private static int Init()
    {
        var settings = JpkiSettings.Load(JpkiSettings.HomeFromEnvironment(), writeDefaults: false);
        var path = TsaHost.CertificatePath(settings);
        using var module = Pkcs11Module.Load(settings.ModulePath);
        var pin = PinSource.FromEnvironmentOrFile(settings.Hsm.UserPinEnvironmentVariable, settings.Resolve(settings.Hsm.UserPinFile));
        using var token = HsmToken.Open(module, settings.TokenLabel, pin);
        var hasKey = token.HasKey(TsaCertificate.KeyLabel);
        if (hasKey && File.Exists(path))
        {
            Console.WriteLine($"tsa: key {TsaCertificate.KeyLabel} and certificate {path} exist; nothing to do");
            return 0;
        }

        if (hasKey)
        {
            // A certificate cannot be re-made silently: verifiers may already trust the lost one.
            Console.Error.WriteLine($"tsa: the token holds key {TsaCertificate.KeyLabel} but {path} is missing; restore it from a backup");
            return 1;
        }

        token.GenerateKeyPair(KeyKind.Rsa, TsaCertificate.KeyLabel, 3072);
        using var pool = token.CreatePool("tsa-init", 1);
        var signer = Pkcs11Signer.Open(pool, TsaCertificate.KeyLabel);
        var certificate = TsaCertificate.Build(signer, settings.InstallName, DateTimeOffset.UtcNow);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, TsaCertificate.Pem(certificate));
        Console.WriteLine($"tsa: key {TsaCertificate.KeyLabel} made in token '{settings.TokenLabel}'; certificate {path} (serial {certificate.SerialNumber.ToString(16).ToUpperInvariant()}, until {certificate.NotAfter:yyyy-MM-dd})");
        return 0;
    }
}
