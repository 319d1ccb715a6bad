using System.Net;

namespace Jpki.Hosting;

/// <summary>
/// Services that carry bearer tokens or personal data over plain HTTP (the CA API, the kiosk)
/// listen on loopback only until TLS is configured in front of them.
/// </summary>
public static class Loopback
{
    /// <summary>Every address of a <c>;</c>-separated list must be <c>http://</c> on localhost, 127.0.0.0/8 or ::1.</summary>
    /// <exception cref="InvalidOperationException">One is not, named in the message with <paramref name="service"/>.</exception>
    public static void EnsureListenUrls(string listenUrls, string service)
    {
        ArgumentNullException.ThrowIfNull(listenUrls);
        foreach (var url in listenUrls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != "http")
            {
                throw new InvalidOperationException($"listen address '{url}' is not an http:// URL");
            }

            var loopback = uri.Host == "localhost"
                || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
            if (!loopback)
            {
                throw new InvalidOperationException($"listen address '{url}' is not loopback; {service} refuses it until TLS is configured");
            }
        }
    }
}
