using Jpki.Core.Configuration;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Jpki.Hosting;

/// <summary>
/// The optional mutual-TLS listener of the OCSP responder and the CRL publisher (one source file,
/// linked into both): Kestrel asks for a client certificate (not required), lets any certificate
/// finish the handshake without building or revocation-checking a chain, and leaves the decision
/// to <see cref="Jpki.Core.Accounts.VerifierAccessPolicy"/> (registered fingerprint of an enabled
/// verifier). Returns the URLs to listen on: the plain one, plus the HTTPS one when configured.
/// </summary>
internal static class MutualTlsListener
{
    public static string Configure(IWebHostBuilder webHost, string plainListenUrl, MutualTlsSettings? tls, Func<string, string> resolve)
    {
        if (tls is null)
        {
            return plainListenUrl;
        }

        var certificate = tls.LoadServerCertificate(resolve);
        webHost.UseKestrelHttpsConfiguration(); // the slim builder leaves HTTPS out unless asked
        webHost.ConfigureKestrel(kestrel => kestrel.ConfigureHttpsDefaults(https =>
        {
            https.ServerCertificate = certificate;
            https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
            https.CheckCertificateRevocation = false;
            https.ClientCertificateValidation = (_, _, _) => true;
            https.SslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13;
        }));
        return plainListenUrl + ";" + tls.Listen;
    }
}
