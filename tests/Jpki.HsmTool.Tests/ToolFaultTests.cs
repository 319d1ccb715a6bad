using Dapper;
using Jpki.Core.Store;
using Jpki.Hsm;

namespace Jpki.HsmTool.Tests;

/// <summary>Fresh installs that go wrong on purpose: wrong PIN, missing module, tampered audit, lost token files.</summary>
[Collection(SoftHsmStoreTests.Name)]
public sealed class ToolFaultTests(SoftHsmStore store)
{
    [Fact]
    public void Wrong_pin_and_missing_module_are_clear_errors_without_the_pin()
    {
        var install = store.NewInstall();
        Assert.Equal(0, install.Run("hsm", "init").ExitCode);
        var goodPin = File.ReadAllText(install.UserPinFile).Trim();

        var wrong = "WRONG" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));
        install.Environment["JPKI_HSM_PIN"] = wrong;
        var refused = install.Run("hsm", "status");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains($"token '{install.TokenLabel}' refused the PIN", refused.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(wrong, refused.All, StringComparison.Ordinal);
        Assert.DoesNotContain(goodPin, refused.All, StringComparison.Ordinal);
        install.Environment.Remove("JPKI_HSM_PIN");

        install.Environment["JPKI_PKCS11_MODULE"] = "/usr/lib/nonexistent/libpkcs11.so";
        var noModule = install.Run("hsm", "status");
        Assert.Equal(1, noModule.ExitCode);
        Assert.Contains("PKCS#11 module '/usr/lib/nonexistent/libpkcs11.so' could not be loaded", noModule.Stderr, StringComparison.Ordinal);
        install.Environment.Remove("JPKI_PKCS11_MODULE");

        install.Environment["JPKI_HSM_TOKEN"] = "no-such-token";
        var noToken = install.Run("hsm", "status");
        Assert.Equal(1, noToken.ExitCode);
        Assert.Contains("token 'no-such-token' does not exist", noToken.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Audit_verify_names_the_record_an_editor_changed()
    {
        var install = store.NewInstall();
        Assert.Equal(0, install.Run("hsm", "init").ExitCode);
        Assert.Equal(0, install.Run("audit", "verify").ExitCode);

        using (var db = new Database($"Data Source={install.DatabasePath}", TimeProvider.System))
        using (var c = db.OpenConnection())
        {
            Assert.Equal(1, c.Execute("UPDATE audit_log SET subject = 'someone-else' WHERE seq = 3"));
        }

        var verify = install.Run("audit", "verify");
        Assert.Equal(1, verify.ExitCode);
        Assert.Contains("FAILED", verify.Stdout, StringComparison.Ordinal);
        Assert.Contains("3", verify.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Backup_and_restore_through_the_tool_bring_the_keys_back()
    {
        var install = store.NewInstall();
        Assert.Equal(0, install.Run("hsm", "init").ExitCode);
        var archive = Path.Combine(install.Home, "token-backup.tar");
        var backup = install.Run("hsm", "backup", "--out", archive);
        Assert.True(backup.ExitCode == 0, backup.ToString());

        var rootKey = install.PublicKey("yamaguchi-ken-signing-g1");

        // Lose every key object of the token, as a bad disk would.
        var files = new SoftHsmTokenFiles(store.TokenDir);
        var dir = files.DirectoryOf(install.TokenLabel);
        foreach (var f in Directory.GetFiles(dir, "*.object").Where(f => !f.EndsWith("token.object", StringComparison.Ordinal)))
        {
            File.Delete(f);
        }

        SoftHsmTokenFiles.SignalChange(dir);
        Assert.NotEqual(0, install.Pkcs11Tool("--read-object", "--type", "pubkey", "--label", "yamaguchi-ken-signing-g1").ExitCode);
        var broken = install.Run("hsm", "status");
        Assert.Equal(1, broken.ExitCode);
        Assert.Contains("'yamaguchi-ken-signing-g1'  MISSING FROM TOKEN", broken.Stdout, StringComparison.Ordinal);

        var refused = install.Run("hsm", "restore", "--in", archive);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("restore with replace", refused.Stderr, StringComparison.Ordinal);

        var restored = install.Run("hsm", "restore", "--in", archive, "--replace");
        Assert.True(restored.ExitCode == 0, restored.ToString());
        var status = install.Run("hsm", "status");
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains("yamaguchi-ken-signing-g1 ", status.Stdout, StringComparison.Ordinal);

        Assert.Equal(rootKey, install.PublicKey("yamaguchi-ken-signing-g1"));

        using var db = new Database($"Data Source={install.DatabasePath}", TimeProvider.System);
        using var c = db.OpenConnection();
        Assert.Equal(["ceremony.token.backup", "ceremony.token.restore"], c.Query<string>("SELECT action FROM audit_log WHERE action LIKE 'ceremony.token.%' ORDER BY seq").ToList());
        Assert.Equal(0, install.Run("audit", "verify").ExitCode);
    }

    [Fact]
    public void Several_prefectures_share_one_install()
    {
        var install = store.NewInstall();
        File.WriteAllText(Path.Combine(install.Home, "jpki.json"), """
            {
              "prefectures": [
                { "name": "Yamaguchi-ken", "kanji": "山口県", "code": "35" },
                { "name": "Shimane-ken", "kanji": "島根県", "code": "32" }
              ],
              "ceremony": { "responderKey": "p256" }
            }
            """);
        var init = install.Run("hsm", "init");
        Assert.True(init.ExitCode == 0, init.ToString());

        using var db = new Database($"Data Source={install.DatabasePath}", TimeProvider.System);
        using var c = db.OpenConnection();
        Assert.Equal(
            ["shimane-ken-authentication", "shimane-ken-signing", "yamaguchi-ken-authentication", "yamaguchi-ken-signing"],
            c.Query<string>("SELECT id FROM issuers ORDER BY id").ToList());
        var shimane = Install_Subject(install, "shimane-ken-signing-g1");
        Assert.Contains("Shimane-ken", shimane, StringComparison.Ordinal);
        var responder = ExternalProcess.Run("openssl", "x509", "-in", install.CertPath("shimane-ken-signing-g1-ocsp"), "-noout", "-text");
        Assert.Contains("id-ecPublicKey", responder.Output, StringComparison.Ordinal);
        var verify = ExternalProcess.Run("openssl", "verify", "-x509_strict", "-purpose", "ocsphelper", "-CAfile", install.CertPath("shimane-ken-signing-g1"), install.CertPath("shimane-ken-signing-g1-ocsp"));
        Assert.True(verify.ExitCode == 0, verify.Output);
    }

    [Fact]
    public void Ceremony_runs_on_postgresql_too()
    {
        var server = Environment.GetEnvironmentVariable("JPKI_TEST_PG");
        Assert.False(string.IsNullOrEmpty(server), "JPKI_TEST_PG must name the PostgreSQL server of this test run (./jpki test starts one)");
        var name = "ceremony_" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
        using (var admin = new Npgsql.NpgsqlConnection(server))
        {
            admin.Open();
            admin.Execute($"CREATE DATABASE {name}");
        }

        var install = store.NewInstall();
        install.Environment["JPKI_DB"] = $"{server};Database={name}";
        var init = install.Run("hsm", "init");
        Assert.True(init.ExitCode == 0, init.ToString());
        Assert.Contains("nothing to do", install.Run("hsm", "init").Stdout, StringComparison.Ordinal);
        var verify = install.Run("audit", "verify");
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains("audit chain OK: 11 records", verify.Stdout, StringComparison.Ordinal);
        var signatures = install.Run("audit", "signatures");
        Assert.True(signatures.ExitCode == 0, signatures.ToString());
        Assert.Contains("signatures OK: every intended signature is accounted for: 5 intended, 5 certified", signatures.Stdout, StringComparison.Ordinal);

        using var pg = new Npgsql.NpgsqlConnection($"{server};Database={name}");
        pg.Open();
        Assert.Equal(4L, pg.ExecuteScalar<long>("SELECT COUNT(*) FROM certificates"));
        Assert.Equal(4L, pg.ExecuteScalar<long>("SELECT COUNT(*) FROM status_changes"));
    }

    private static string Install_Subject(Install install, string key) =>
        ExternalProcess.Run("openssl", "x509", "-in", install.CertPath(key), "-noout", "-subject").Output;
}
