using System.Text.Json.Nodes;
using Jpki.Core.Configuration;

namespace Jpki.HsmTool.Tests;

/// <summary>
/// <c>tls init</c> (run by <c>./jpki up</c>): the mutual-TLS listeners' server certificate and
/// settings on first run, checked with openssl; nothing changed on later runs; an operator's own
/// listener settings kept.
/// </summary>
[Collection(SoftHsmStoreTests.Name)]
public sealed class ListenerTlsTests(SoftHsmStore store)
{
    [Fact]
    public void First_run_makes_a_loopback_server_certificate_with_a_0600_key_and_enables_both_listeners_later_runs_change_nothing()
    {
        var install = store.NewInstall();
        var first = install.Run("tls", "init");
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains("enabled in jpki.json: ocsp.mutualTls https://127.0.0.1:8443, crl.mutualTls https://127.0.0.1:8444", first.Stdout, StringComparison.Ordinal);

        var certificate = Path.Combine(install.Home, "tls", "server.pem");
        var key = Path.Combine(install.Home, "tls", "server.key");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(key)!));
        Assert.DoesNotContain("PRIVATE KEY", first.Stdout + first.Stderr, StringComparison.Ordinal);

        var text = ExternalProcess.Run("openssl", "x509", "-in", certificate, "-noout", "-text");
        Assert.Contains("IP Address:127.0.0.1", text.Output, StringComparison.Ordinal);
        Assert.Contains("DNS:localhost", text.Output, StringComparison.Ordinal);
        Assert.Contains("TLS Web Server Authentication", text.Output, StringComparison.Ordinal);
        Assert.Contains("prime256v1", text.Output, StringComparison.Ordinal);
        Assert.Contains("does match certificate", ExternalProcess.Run("openssl", "x509", "-in", certificate, "-noout", "-checkip", "127.0.0.1").Output, StringComparison.Ordinal);
        var certificateKey = ExternalProcess.Run("openssl", "x509", "-in", certificate, "-noout", "-pubkey");
        var privateKey = ExternalProcess.Run("openssl", "pkey", "-in", key, "-pubout");
        Assert.Equal(0, privateKey.ExitCode);
        Assert.Equal(certificateKey.Output, privateKey.Output);

        // The services read these settings (the loader validates them) and can load the pair.
        var settings = JpkiSettings.Load(install.Home);
        Assert.Equal("https://127.0.0.1:8443", settings.Ocsp.MutualTls!.Listen);
        Assert.Equal("https://127.0.0.1:8444", settings.Crl.MutualTls!.Listen);
        using (var loaded = settings.Ocsp.MutualTls.LoadServerCertificate(settings.Resolve))
        {
            Assert.True(loaded.HasPrivateKey);
        }

        var before = File.ReadAllBytes(certificate);
        var json = File.ReadAllText(Path.Combine(install.Home, JpkiSettings.FileName));
        var second = install.Run("tls", "init");
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Contains("nothing to do", second.Stdout, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(certificate));
        Assert.Equal(json, File.ReadAllText(Path.Combine(install.Home, JpkiSettings.FileName)));
    }

    [Fact]
    public void An_operators_own_listener_setting_is_kept()
    {
        var install = store.NewInstall();
        JpkiSettings.Load(install.Home); // the defaults
        var file = Path.Combine(install.Home, JpkiSettings.FileName);
        var json = JsonNode.Parse(File.ReadAllText(file))!;
        json["ocsp"]!["mutualTls"] = new JsonObject { ["listen"] = "https://127.0.0.1:9443", ["certificateFile"] = "/etc/own.pem", ["keyFile"] = "/etc/own.key" };
        File.WriteAllText(file, json.ToJsonString());

        var run = install.Run("tls", "init");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("enabled in jpki.json: crl.mutualTls https://127.0.0.1:8444", run.Stdout, StringComparison.Ordinal);
        var settings = JpkiSettings.Load(install.Home);
        Assert.Equal(new MutualTlsSettings { Listen = "https://127.0.0.1:9443", CertificateFile = "/etc/own.pem", KeyFile = "/etc/own.key" }, settings.Ocsp.MutualTls);
        Assert.Equal("{home}/tls/server.pem", settings.Crl.MutualTls!.CertificateFile);
    }
}
