using System.Net;
using System.Net.Sockets;

namespace EdgeActors.MultiNode.Tests;

internal static class Ports
{
    // Below Linux's ephemeral range (32768-60999 by default): a port the OS hands out on its own (an EdgeClient binds
    // port 0, and restarts with a new one; outbound connections take one too) can never be one a test node was given
    // and has not bound yet. Binding port 0 here instead once let a client take a node's port before the node started.
    private const int Low = 20_000;
    private static int _next = Low + Random.Shared.Next(0, 6_000);

    /// <summary>Free TCP ports on 127.0.0.1 outside the ephemeral range, distinct from each other and from earlier calls.</summary>
    public static int[] Free(int count)
    {
        var high = EphemeralLow() - 1;
        var ports = new List<int>(count);
        for (var tries = 0; ports.Count < count; tries++)
        {
            if (tries > 20_000) throw new InvalidOperationException($"no {count} free ports between {Low} and {high}");
            var port = Interlocked.Increment(ref _next);
            if (port > high) Interlocked.Exchange(ref _next, Low);
            if (port > high || port < Low) continue;
            try
            {
                var l = new TcpListener(IPAddress.Loopback, port);
                l.Start();
                l.Stop();
                ports.Add(port);
            }
            catch (SocketException)
            {
                // in use: the next one
            }
        }
        return ports.ToArray();
    }

    private static int EphemeralLow()
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (range.Length == 2 && int.TryParse(range[0], out var low) && low > Low + 1_000) return low;
        }
        catch (IOException)
        {
        }
        return 32_768;
    }
}
