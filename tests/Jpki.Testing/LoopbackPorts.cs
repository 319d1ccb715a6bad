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

    /// <summary>Whether something accepts TCP connections on 127.0.0.1:<paramref name="port"/> now.</summary>
    public static bool Listens(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
