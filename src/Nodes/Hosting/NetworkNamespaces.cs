using System.Diagnostics;

namespace EdgeActors.Nodes.Hosting;

/// <summary>
/// A small virtual network for a local cluster, made with Linux network namespaces (needs root and iproute2): every node
/// runs in a namespace of its own with one veth pair whose host end is a port of bridge "A" in the calling (root)
/// namespace, which also holds the client's address (<c>10.77.&lt;net&gt;.1</c>). A partition moves the host ends of one
/// side to bridge "B", which has no address: the two sides (and the client and side B) can no longer reach each other,
/// while the nodes within each side still can, exactly as when a site loses its uplink. Healing moves them back.
/// Packets across the cut are silently dropped (no resets), as on a real network.
/// </summary>
public sealed class NetworkNamespaces : IDisposable
{
    private static readonly HashSet<int> Taken = new();
    private readonly string _tag;
    private readonly Dictionary<string, int> _index = new();
    private readonly HashSet<string> _cut = new();
    private bool _disposed;

    /// <summary>Third octet of this network's addresses (10.77.&lt;Net&gt;.0/24).</summary>
    public int Net { get; }

    /// <summary>The address the calling process (the client) has on this network.</summary>
    public string ClientAddress => $"10.77.{Net}.1";

    private string BridgeA => $"ea{_tag}a";
    private string BridgeB => $"ea{_tag}b";

    private NetworkNamespaces(int net)
    {
        Net = net;
        _tag = net.ToString("D3");
    }

    /// <summary>Null when namespaces can be made here, else why not (not root, no <c>ip</c>, refused by the kernel, …).</summary>
    public static string? Probe()
    {
        if (!OperatingSystem.IsLinux()) return "network namespaces need Linux";
        if (GetEuid() != 0) return "network namespaces need root (not running as root)";
        var probe = $"eaprobe{Environment.ProcessId % 100000}";
        var (rc, err) = Ip($"netns add {probe}");
        if (rc != 0) return $"'ip netns add' refused: {err.Trim()}";
        Ip($"netns del {probe}");
        return null;
    }

    /// <summary>Creates the bridges and one namespace per node name. Throws with the failing command's error.</summary>
    public static NetworkNamespaces Create(IReadOnlyList<string> nodes)
    {
        if (nodes.Count > 200) throw new ArgumentException("at most 200 nodes");
        // a network number of our own: processes running side by side (tests, a chaos run) must not share bridges
        // and not one whose bridge is still there (another run's, or left by a run that was killed)
        var start = (int)((uint)HashCode.Combine(Environment.ProcessId, Stopwatch.GetTimestamp()) % 250);
        var net = -1;
        lock (Taken) // tests of one process run side by side: each takes a number of its own
        {
            for (var k = 0; k < 250 && net < 0; k++)
            {
                var candidate = new NetworkNamespaces(2 + (start + k) % 250);
                if (!Taken.Contains(candidate.Net) && !Directory.Exists($"/sys/class/net/{candidate.BridgeA}") &&
                    !Directory.Exists($"/sys/class/net/{candidate.BridgeB}") && !File.Exists($"/run/netns/ea{candidate._tag}n0"))
                    net = candidate.Net;
            }
            if (net < 0) throw new InvalidOperationException("no free network number for the namespaces: every ea<NNN>a bridge exists (remove stale ones with 'ip link delete')");
            Taken.Add(net);
        }
        var n = new NetworkNamespaces(net);
        try
        {
            n.Run($"link add {n.BridgeA} type bridge");
            n.Run($"addr add {n.ClientAddress}/24 dev {n.BridgeA}");
            n.Run($"link set {n.BridgeA} up");
            n.Run($"link add {n.BridgeB} type bridge");
            n.Run($"link set {n.BridgeB} up");
            for (var i = 0; i < nodes.Count; i++)
            {
                n._index[nodes[i]] = i;
                var ns = n.Namespace(nodes[i]);
                var host = n.HostEnd(nodes[i]);
                n.Run($"netns add {ns}");
                n.Run($"link add {host} type veth peer name {host}c");
                n.Run($"link set {host}c netns {ns}");
                n.Run($"-n {ns} link set {host}c name eth0");
                n.Run($"-n {ns} addr add {n.Address(nodes[i])}/24 dev eth0");
                n.Run($"-n {ns} link set eth0 up");
                n.Run($"-n {ns} link set lo up");
                n.Run($"link set {host} master {n.BridgeA}");
                n.Run($"link set {host} up");
            }
            return n;
        }
        catch
        {
            n.Dispose();
            throw;
        }
    }

    public string Namespace(string node) => $"ea{_tag}n{_index[node]}";

    private string HostEnd(string node) => $"ea{_tag}h{_index[node]}";

    /// <summary>The node's address inside its namespace.</summary>
    public string Address(string node) => $"10.77.{Net}.{10 + _index[node]}";

    public IReadOnlyCollection<string> CutOff => _cut;

    /// <summary>Cuts <paramref name="side"/> off from every other node and from the client (they still reach each other).</summary>
    public void Partition(IEnumerable<string> side)
    {
        foreach (var node in side)
        {
            Run($"link set {HostEnd(node)} master {BridgeB}");
            _cut.Add(node);
        }
    }

    /// <summary>Joins every node back to one network.</summary>
    public void Heal()
    {
        foreach (var node in _cut) Run($"link set {HostEnd(node)} master {BridgeA}");
        _cut.Clear();
    }

    /// <summary>Wraps a command so it runs inside the node's namespace.</summary>
    public (string File, IReadOnlyList<string> Args) Wrap(string node, string file, IEnumerable<string> args) =>
        ("ip", ["netns", "exec", Namespace(node), file, .. args]);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var node in _index.Keys) Ip($"netns del {Namespace(node)}"); // deletes the veth pair too
        Ip($"link del {BridgeA}");
        Ip($"link del {BridgeB}");
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEuid();

    private void Run(string args)
    {
        var (rc, err) = Ip(args);
        if (rc != 0) throw new InvalidOperationException($"ip {args}: {err.Trim()} (exit {rc})");
    }

    private static (int Rc, string Err) Ip(string args)
    {
        try
        {
            var psi = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in args.Split(' ', StringSplitOptions.RemoveEmptyEntries)) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEnd();
            p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, err);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (127, $"cannot run 'ip' ({ex.Message}); install iproute2");
        }
    }
}
