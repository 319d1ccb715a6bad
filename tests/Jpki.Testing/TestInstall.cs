using System.Diagnostics;

namespace Jpki.Testing;

/// <summary>
/// What every test that stands up a whole install needs, in one place (linked into each test
/// project): the key ceremony run as a child process, and the path of a program of this
/// repository in its own build output.
/// </summary>
public static class TestInstall
{
    /// <summary>Runs <c>hsm init</c> as a child process for an install of its own (home, SoftHSM configuration, token).</summary>
    public static void RunCeremony(string home, string confPath, string tokenLabel, string modulePath)
    {
        var (exit, stdout, stderr) = RunTool(home, confPath, tokenLabel, modulePath, "hsm", "init");
        if (exit != 0)
        {
            throw new InvalidOperationException($"hsm init failed ({exit}):\n{stdout}\n{stderr}");
        }
    }

    /// <summary>Runs the key-ceremony tool (<c>./jpki hsm ...</c>) as a child process on an install; its exit code and output.</summary>
    public static (int ExitCode, string Stdout, string Stderr) RunTool(string home, string confPath, string tokenLabel, string modulePath, params string[] arguments)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = home };
        psi.ArgumentList.Add(BuiltToolPath("hsm-config", "Jpki.HsmTool"));
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        psi.Environment["JPKI_HOME"] = home;
        psi.Environment["SOFTHSM2_CONF"] = confPath;
        psi.Environment["JPKI_HSM_TOKEN"] = tokenLabel;
        psi.Environment["JPKI_PKCS11_MODULE"] = modulePath;
        psi.Environment.Remove("JPKI_HSM_PIN");
        psi.Environment.Remove("JPKI_DB");
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"jpki {string.Join(' ', arguments)} did not finish in 2 minutes");
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// A program of the repository in its own build output: tests/{tests}/bin/{configuration}/net10.0 →
    /// {folder}/{project}/bin/{configuration}/net10.0/{project}.dll.
    /// </summary>
    public static string BuiltToolPath(string folder, string project)
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        var configuration = output.Parent!.Name;
        return Path.Combine(RepositoryRoot(), folder, project, "bin", configuration, output.Name, project + ".dll");
    }

    /// <summary>The checkout the tests run from: tests/{tests}/bin/{configuration}/net10.0 is five levels below it.</summary>
    public static string RepositoryRoot() =>
        new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
}
