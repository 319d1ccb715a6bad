using System.Net;
using System.Net.Sockets;

namespace Jpki.Testing;

/// <summary>Ports on 127.0.0.1 for child processes and servers a test starts itself.</summary>
public static class LoopbackPorts
{
    /// <summary>
    /// A port the kernel had free a moment ago, closed again on return: nothing listens there until
    /// the caller starts something on it (another process may take it first, which only makes that
    /// start fail loudly).
    /// </summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
