using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Jpki.Hosting;

/// <summary>
/// The optional mutual-TLS listener of the OCSP responder and the CRL publisher: Kestrel asks for
/// a client certificate (not required, so token clients can use it too), lets any certificate
/// finish the handshake without building or revocation-checking a chain, and leaves the decision
/// to the service's access policy (in JPKI: a fingerprint registered to an enabled verifier).
/// </summary>
public sealed record MutualTlsListener(string ListenUrl, X509Certificate2 ServerCertificate)
{
    /// <summary>Adds the HTTPS listener to <paramref name="webHost"/>; returns every URL to listen on (plain first).</summary>
    internal string Configure(IWebHostBuilder webHost, string plainListenUrls)
    {
        webHost.UseKestrelHttpsConfiguration(); // the slim builder leaves HTTPS out unless asked
        webHost.ConfigureKestrel(kestrel => kestrel.ConfigureHttpsDefaults(https =>
        {
            https.ServerCertificate = ServerCertificate;
            https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
            https.CheckCertificateRevocation = false;
            https.ClientCertificateValidation = (_, _, _) => true;
            https.SslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13;
        }));
        return plainListenUrls + ";" + ListenUrl;
    }
}
