using Jpki.Card;
using Jpki.Hosting;
using Jpki.Hsm;
using Jpki.Kiosk;

// The enrolment kiosk (port 8080). Its PKCS#11 module is the card reader: the cards' own SoftHSM
// store ({home}/cards), never the CA's HSM. Cards made by `jpki card new` after the kiosk
// started are not visible to it (SoftHSM reads its tokens at C_Initialize); the kiosk makes
// blank cards itself as enrolments need them.
// Owner-only files from here on (umask 077): the cards' SoftHSM tokens and PIN counters live in var/cards.
UnixFiles.RestrictNewFilesToOwner();
try
{
    var home = Environment.GetEnvironmentVariable("JPKI_HOME") is { Length: > 0 } h ? h : Path.Combine(Environment.CurrentDirectory, "var");
    var options = new KioskOptions { KeyRingDirectory = Path.Combine(home, "kiosk-keys") };
    for (var i = 0; i + 1 < args.Length; i += 2)
    {
        options = args[i] switch
        {
            "--urls" => options with { ListenUrl = args[i + 1] },
            "--ca" => options with { CaBaseAddress = new Uri(args[i + 1].TrimEnd('/') + "/") },
            "--window-id" => options with { WindowId = args[i + 1] },
            "--idle-timeout" => options with { IdleTimeout = ParseIdleTimeout(args[i + 1]) },
            _ => throw new ArgumentException($"unknown option '{args[i]}' (known: --urls, --ca, --window-id, --idle-timeout SECONDS)"),
        };
    }

    var store = CardStore.ForHome(home);
    var modulePath = Environment.GetEnvironmentVariable("JPKI_PKCS11_MODULE") is { Length: > 0 } m ? m : "/usr/lib/softhsm/libsofthsm2.so";
    using var module = Pkcs11Module.Load(modulePath, store.EnsureSoftHsmConfiguration());
    Microsoft.AspNetCore.Builder.WebApplication app;
    try
    {
        app = KioskHost.Build(options, new CardReader(module, store, TimeProvider.System));
    }
    catch (InvalidOperationException e)
    {
        Console.Error.WriteLine("kiosk: " + e.Message);
        return 1;
    }

    await app.StartAsync();
    app.Logger.LogInformation("Kiosk listening on {Urls}", string.Join(", ", app.Urls));
    await app.WaitForShutdownAsync();
    return 0;
}
catch (ArgumentException e)
{
    // A usage error, as every program reports one.
    Console.Error.WriteLine("error: " + e.Message);
    return 2;
}
catch (Exception e)
{
    // One line for the operator, never a stack trace; the details go to the crash log.
    return Jpki.Cli.CrashReport.Write(e, Console.Error);
}

// A session idle this many seconds ends (default 600); 1 s to 8 h.
static TimeSpan ParseIdleTimeout(string seconds) =>
    int.TryParse(seconds, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var s) && s is >= 1 and <= 8 * 3600
        ? TimeSpan.FromSeconds(s)
        : throw new ArgumentException($"--idle-timeout takes whole seconds from 1 to {8 * 3600}, not '{seconds}'");
