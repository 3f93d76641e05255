using EdgeActors.Client.Security;
using EdgeActors.Nodes.Hosting;
using Microsoft.Extensions.Hosting;

namespace EdgeActors.Nodes.Commands;

/// <summary><c>edgeactors node --roles seed,edge --host 127.0.0.1 --port 4053 --seeds 127.0.0.1:4053</c></summary>
public static class NodeCommand
{
    public const string Usage = """
        edgeactors node [--roles seed,edge,datacenter] [--host H] [--port P] [--seeds host:port,...]
                        [--config file.conf]... [--set 'hocon.key = value']... [--hocon-dir DIR] [--data-dir DIR]
                        [--certs DIR --cert-name NAME] [--site NAME]
          Starts one cluster node (roles default to all three). Settings: hocon/base.conf, hocon/<role>.conf, --config files,
          EDGEACTORS_ROLES / EDGEACTORS_HOST / EDGEACTORS_PORT / EDGEACTORS_SEEDS / EDGEACTORS_DATA_DIR, then the flags.
          Files (the model registry on a datacenter) go to --data-dir, default .data/node-<port>.
          --certs DIR (made by 'edgeactors certs'): TLS with mutual authentication using DIR/nodes/NAME.pfx and DIR/ca.crt,
          and client tokens checked with DIR/token.key (edgeactors.security).
          --site (edgeactors.node.site, EDGEACTORS_SITE) names an edge's site: devices '<site>/<id>' live there while it is up.
          Stops gracefully on SIGTERM or Ctrl-C.
        """;

    public static NodeOptions Parse(CliArgs args)
    {
        var port = args.Get("port");
        return new NodeOptions
        {
            Roles = NodeConfig.SplitList(args.Get("roles")),
            Host = args.Get("host"),
            Port = port is null ? null : int.TryParse(port, out var p) && p is >= 0 and <= 65535 ? p : throw new CliException($"--port: '{port}' is not a port number"),
            Seeds = NodeConfig.SplitList(args.Get("seeds")),
            ConfigFiles = args.GetAll("config"),
            Sets = args.GetAll("set"),
            HoconDirectory = args.Get("hocon-dir"),
            DataDirectory = args.Get("data-dir"),
            CertsDirectory = args.Get("certs"),
            CertName = args.Get("cert-name"),
            Site = args.Get("site"),
        };
    }

    /// <summary>The line a node prints on SIGUSR1 (a diagnostic: <c>bench devices</c> reads the edge's live managed heap from it).</summary>
    public const string HeapReportPrefix = "edgeactors node: managed heap after full GC: ";

    /// <summary>
    /// SIGUSR1 (10): a full blocking compacting GC, then one line with the live managed heap in bytes and the process's
    /// working set. Not available where raw signals cannot be registered (then null).
    /// </summary>
    private static IDisposable? HeapReportOnSignal()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            return System.Runtime.InteropServices.PosixSignalRegistration.Create((System.Runtime.InteropServices.PosixSignal)10, ctx =>
            {
                ctx.Cancel = true;
                _ = Task.Run(() =>
                {
                    System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
                    GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                    GC.WaitForPendingFinalizers();
                    GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                    var heap = GC.GetTotalMemory(forceFullCollection: false);
                    Console.WriteLine(FormattableString.Invariant($"{HeapReportPrefix}{heap} bytes; working set {Environment.WorkingSet} bytes"));
                });
            });
        }
        catch (Exception ex) when (ex is PlatformNotSupportedException or IOException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    public static async Task<int> RunAsync(CliArgs args)
    {
        var options = Parse(args);
        args.EnsureAllUsed();
        var (config, roles) = NodeConfig.Build(options, NodeConfig.ProcessEnvironment());
        Console.WriteLine($"edgeactors node: roles={string.Join(",", roles)} address={config.GetString("akka.remote.dot-netty.tcp.hostname")}:{config.GetInt("akka.remote.dot-netty.tcp.port")} seeds={string.Join(",", config.GetStringList("akka.cluster.seed-nodes"))}");
        using var host = NodeHost.Build(config, roles);
        await host.StartAsync();
        var system = host.Services.GetService(typeof(Akka.Actor.ActorSystem)) as Akka.Actor.ActorSystem;
        using var heapReport = HeapReportOnSignal();
        await host.WaitForShutdownAsync();
        if (system is not null && TlsHandshakeStop.StoppedFor(system))
        {
            Console.Error.WriteLine("edgeactors node: stopped: a TLS handshake with another node failed (the 'TLS:' lines above say why): " +
                                    "this node's CA (edgeactors.security.ca-certificate) does not trust the cluster's certificates, or the reverse");
            return 79;
        }
        Console.WriteLine($"edgeactors node: stopped cleanly");
        return 0;
    }
}
