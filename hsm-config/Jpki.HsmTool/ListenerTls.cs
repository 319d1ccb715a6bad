using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Core.Configuration;

namespace Jpki.HsmTool;

/// <summary>
/// <c>tls init</c> (run by <c>./jpki up</c>): on first run, a self-signed TLS server certificate for
/// the OCSP and CRL mutual-TLS listeners (P-256, CN and subjectAltName 127.0.0.1 / localhost,
/// serverAuth) in <c>$JPKI_HOME/tls</c> (directory 0700, key 0600, PEM), and <c>ocsp.mutualTls</c> /
/// <c>crl.mutualTls</c> switched on at https://127.0.0.1:8443 and :8444 in jpki.json. It is a TLS key,
/// not a CA key, so it lives in a file, not in the HSM. Later runs change nothing: an existing
/// certificate is kept, and the settings are written only together with a new certificate and
/// only where a section has no mutualTls yet, so an operator's own choice is never overwritten.
/// </summary>
public static class ListenerTls
{
    public const string OcspListen = "https://127.0.0.1:8443";
    public const string CrlListen = "https://127.0.0.1:8444";
    public const string CertificateFile = "{home}/tls/server.pem";
    public const string KeyFile = "{home}/tls/server.key";

    private static readonly TimeSpan Validity = TimeSpan.FromDays(397);

    public static int Init(JpkiSettings settings, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(output);
        var certificatePath = settings.Resolve(CertificateFile);
        var keyPath = settings.Resolve(KeyFile);
        if (File.Exists(certificatePath) || File.Exists(keyPath))
        {
            output.WriteLine($"nothing to do: TLS server certificate {certificatePath} exists (listeners: ocsp.mutualTls {Describe(settings.Ocsp.MutualTls)}, crl.mutualTls {Describe(settings.Crl.MutualTls)})");
            return 0;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(certificatePath)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.Add(Validity));

        // The key is created 0600 (never readable by others, not even for a moment), then the certificate.
        using (var file = new FileStream(keyPath, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
        using (var writer = new StreamWriter(file))
        {
            writer.Write(key.ExportPkcs8PrivateKeyPem());
        }

        File.WriteAllText(certificatePath, certificate.ExportCertificatePem() + "\n");
        var enabled = EnableListeners(Path.Combine(settings.Home, JpkiSettings.FileName));
        output.WriteLine($"TLS server certificate for the mutual-TLS listeners: {certificatePath} (key {keyPath}, mode 0600), SHA-256 {certificate.GetCertHashString(HashAlgorithmName.SHA256)}, until {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd}");
        output.WriteLine(enabled.Count == 0 ? "jpki.json already configures both mutual-TLS listeners: kept as it is" : $"enabled in jpki.json: {string.Join(", ", enabled)}");
        return 0;
    }

    /// <summary>Adds <c>mutualTls</c> to the ocsp and crl sections that have none; returns what it enabled.</summary>
    private static List<string> EnableListeners(string settingsPath)
    {
        var root = JsonNode.Parse(File.ReadAllText(settingsPath))?.AsObject() ?? throw new InvalidDataException($"{settingsPath} is empty");
        var enabled = new List<string>();
        foreach (var (section, listen) in new[] { ("ocsp", OcspListen), ("crl", CrlListen) })
        {
            if (root[section] is not JsonObject node)
            {
                node = [];
                root[section] = node;
            }

            if (node["mutualTls"] is null)
            {
                node["mutualTls"] = new JsonObject { ["listen"] = listen, ["certificateFile"] = CertificateFile, ["keyFile"] = KeyFile };
                enabled.Add($"{section}.mutualTls {listen}");
            }
        }

        if (enabled.Count > 0)
        {
            var temporary = settingsPath + ".tmp";
            File.WriteAllText(temporary, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
            File.Move(temporary, settingsPath, overwrite: true);
        }

        // Read back through the loader: a file the services could not start with fails here, not at their start.
        _ = JpkiSettings.Load(Path.GetDirectoryName(settingsPath)!);
        return enabled;
    }

    private static string Describe(MutualTlsSettings? tls) => tls is null ? "off" : tls.Listen;
}
