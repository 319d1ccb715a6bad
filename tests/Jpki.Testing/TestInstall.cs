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
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = home };
        psi.ArgumentList.Add(BuiltToolPath("hsm-config", "Jpki.HsmTool"));
        psi.ArgumentList.Add("hsm");
        psi.ArgumentList.Add("init");
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
            throw new TimeoutException("hsm init did not finish in 2 minutes");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"hsm init failed ({process.ExitCode}):\n{stdout.Result}\n{stderr.Result}");
        }
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
