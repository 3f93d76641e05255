using System.Net;
using System.Net.Sockets;

namespace EdgeActors.MultiNode.Tests;

internal static class Ports
{
    /// <summary>Free TCP ports on 127.0.0.1 (bound to port 0 and released), distinct from each other.</summary>
    public static int[] Free(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ =>
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            return l;
        }).ToList();
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        foreach (var l in listeners) l.Stop();
        return ports;
    }
}
