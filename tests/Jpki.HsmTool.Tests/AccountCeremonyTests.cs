using System.Text.RegularExpressions;
using Jpki.Core.Accounts;
using Jpki.Core.Store;

namespace Jpki.HsmTool.Tests;

/// <summary>
/// A production install hands the first officers' and the auditor's credentials to their holders
/// on the terminal and writes none to disk; break-glass makes an officer only with the HSM
/// security-officer PIN and only when fewer than two are left. The real tool as a child process.
/// </summary>
[Collection(SoftHsmStoreTests.Name)]
public sealed partial class AccountCeremonyTests(SoftHsmStore store)
{
    [Fact]
    public void A_production_install_shows_each_credential_once_and_writes_none_to_disk()
    {
        var install = store.NewInstall();
        var result = install.RunWithInput("\n\n\n", "hsm", "init", "--production", "--officers", "alice,bob", "--auditor", "carol");
        Assert.True(result.ExitCode == 0, result.ToString());
        var shown = Credentials().Matches(result.Stdout).ToDictionary(m => m.Groups["id"].Value, m => (Password: m.Groups["password"].Value, Token: m.Groups["token"].Value));
        Assert.Equal(["alice", "bob", "carol"], shown.Keys.Order());

        // Only hashes in the store, no credential file, and the token shown is the one the store knows.
        var secrets = Directory.EnumerateFiles(Path.Combine(install.Home, "secrets")).Select(Path.GetFileName).ToList();
        Assert.DoesNotContain(secrets, f => f!.StartsWith("alice", StringComparison.Ordinal) || f.StartsWith("bob", StringComparison.Ordinal) || f.StartsWith("carol", StringComparison.Ordinal) || f.EndsWith(".token", StringComparison.Ordinal) || f.EndsWith(".password", StringComparison.Ordinal));
        foreach (var file in Directory.EnumerateFiles(install.Home, "*", SearchOption.AllDirectories))
        {
            var bytes = File.ReadAllText(file, System.Text.Encoding.Latin1);
            Assert.DoesNotContain(shown["alice"].Token, bytes, StringComparison.Ordinal);
            Assert.DoesNotContain(shown["carol"].Password, bytes, StringComparison.Ordinal);
        }

        using var database = new Database("Data Source=" + install.DatabasePath, TimeProvider.System);
        using (var db = database.OpenConnection())
        {
            Assert.Equal("officer", AccountStore.RoleText(AccountStore.FindByToken(db, shown["bob"].Token, Instant.NowMicros(TimeProvider.System))!.Role));
            Assert.Equal(InstallMode.Production, InstallMode.Read(db));
        }

        // A second run hands nothing over again.
        var again = install.RunWithInput("\n\n\n", "hsm", "init", "--production");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Empty(Credentials().Matches(again.Stdout));
        Assert.Contains("earlier run", again.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Break_glass_needs_the_security_officer_pin_and_fewer_than_two_officers()
    {
        var install = store.NewInstall();
        Assert.Equal(0, install.RunWithInput("\n\n\n", "hsm", "init", "--production").ExitCode);
        var soPin = File.ReadAllText(Path.Combine(install.Home, "secrets", "hsm-so.pin")).Trim();

        // Two officers are enabled: break-glass is not the way.
        var refused = install.RunWithInput(soPin + "\n\n", "hsm", "break-glass", "--officer", "officer3");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("dual control", refused.All, StringComparison.Ordinal);

        // The officers are lost (one left); a wrong PIN changes nothing.
        using var database = new Database("Data Source=" + install.DatabasePath, TimeProvider.System);
        using (var tx = database.BeginWrite())
        {
            AccountStore.Disable(tx, "officer2");
            tx.Commit();
        }

        var wrongPin = install.RunWithInput("not-the-so-pin\n\n", "hsm", "break-glass", "--officer", "officer3");
        Assert.NotEqual(0, wrongPin.ExitCode);
        Assert.Contains("refused the PIN", wrongPin.All, StringComparison.Ordinal);
        Assert.DoesNotContain(soPin, wrongPin.All, StringComparison.Ordinal);
        using (var db = database.OpenConnection())
        {
            Assert.Null(AccountStore.Find(db, "officer3"));
        }

        var recovered = install.RunWithInput(soPin + "\n\n", "hsm", "break-glass", "--officer", "officer3");
        Assert.True(recovered.ExitCode == 0, recovered.ToString());
        var token = Credentials().Match(recovered.Stdout).Groups["token"].Value;
        Assert.DoesNotContain(soPin, recovered.All, StringComparison.Ordinal);
        using (var db = database.OpenConnection())
        {
            Assert.Equal("officer3", AccountStore.FindByToken(db, token, Instant.NowMicros(TimeProvider.System))!.Id);
            using var command = db.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM audit_log WHERE action = 'account.break-glass' AND subject = 'officer3' AND details LIKE '%\"enabledOfficersBefore\":1%'";
            Assert.Equal(1L, Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.Equal(0, install.Run("audit", "verify").ExitCode);
    }

    [GeneratedRegex(@"account:\s+(?<id>\S+)\s+password:\s+(?<password>[0-9a-f]{32})\s+API token \(expires [0-9-]+\):\s+(?<token>[0-9a-f]{64})")]
    internal static partial Regex Credentials();
}
