namespace Jpki.JukiNet.Simulator;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        try
        {
            return await RunAsync(args);
        }
        catch (Exception e)
        {
            // One line for the operator, never a stack trace; the details go to the crash log.
            return Jpki.Cli.CrashReport.Write(e, Console.Error);
        }
    }

    private static async Task<int> RunAsync(string[] args)
    {
        // Owner-only files from here on (umask 077): its SQLite file holds the synthetic residents' facts.
        Jpki.Hosting.UnixFiles.RestrictNewFilesToOwner();
        if (args is ["residents", ..])
        {
            // ./jpki residents list|show: a console verb on the registry file, no server.
            return await ResidentsCommand.RunAsync(args);
        }

        SimulatorSettings settings;
        try
        {
            var home = Environment.GetEnvironmentVariable("JPKI_HOME") is { Length: > 0 } configured
                ? configured
                : Path.Combine(Environment.CurrentDirectory, "var");
            settings = SimulatorSettings.FromArgs(args, home);
        }
        catch (ArgumentException e)
        {
            await Console.Error.WriteLineAsync($"Juki-Net simulator: {e.Message}\n{SimulatorSettings.Usage}");
            return 2;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(settings.DatabasePath))!);
        await using var app = SimulatorApp.Build(settings);
        await app.StartAsync();
        foreach (var url in app.Urls)
        {
            // Scripts and tests read the bound address (port 0 included) from this line's Message;
            // a JSON line like every other, so that the output parses line by line.
            app.Logger.LogInformation("Juki-Net simulator listening on {Url}", url);
        }

        await app.WaitForShutdownAsync();
        return 0;
    }
}
