using System.CommandLine;
using EdgeActors.Client.Security;
using EdgeActors.Nodes.Hosting;
using Microsoft.Extensions.Hosting;

namespace EdgeActors.Nodes.Commands;

/// <summary><c>edgeactors node --roles seed,edge --host 127.0.0.1 --port 4053 --seeds 127.0.0.1:4053</c></summary>
public static class NodeCommand
{
    private static readonly Option<string[]?> Roles = CliOptions.List("--roles", "seed, edge, datacenter (default all three; env EDGEACTORS_ROLES)", "ROLE,...");
    private static readonly Option<string?> Host = CliOptions.Text("--host", "the address this node binds and is reached at (env EDGEACTORS_HOST)", "HOST");
    private static readonly Option<int?> Port = CliOptions.Port("--port", "the node's port (env EDGEACTORS_PORT)");
    private static readonly Option<string[]?> Seeds = CliOptions.HostPorts("--seeds", "the seed nodes (env EDGEACTORS_SEEDS)");
    private static readonly Option<string[]> Config = CliOptions.Many("--config", "a HOCON file layered over hocon/base.conf and hocon/<role>.conf (repeatable)", "FILE");
    private static readonly Option<string[]> Set = CliOptions.Many("--set", "one HOCON setting, e.g. 'edgeactors.outbox.enabled = off' (repeatable; last wins)", "'KEY = VALUE'");
    private static readonly Option<string?> HoconDir = CliOptions.Text("--hocon-dir", "where base.conf and the role files are (env EDGEACTORS_HOCON_DIR)", "DIR");
    private static readonly Option<string?> DataDir = CliOptions.Text("--data-dir", "the node's files, e.g. the model registry on a datacenter (default .data/node-<port>; env EDGEACTORS_DATA_DIR)", "DIR");
    private static readonly Option<string?> Certs = CliOptions.Text("--certs", "TLS with mutual authentication using DIR/nodes/NAME.pfx and DIR/ca.crt, client tokens checked with DIR/token.key (made by 'edgeactors certs')", "DIR");
    private static readonly Option<string?> CertName = CliOptions.Text("--cert-name", "this node's certificate under --certs", "NAME");
    private static readonly Option<string?> Site = CliOptions.Text("--site", "an edge's site: devices '<site>/<id>' live there while it is up (edgeactors.node.site, env EDGEACTORS_SITE)", "NAME");

    public static Command Create() => Cli.Command("node", """
        start one cluster node (roles seed, edge, datacenter)
        Settings: hocon/base.conf, hocon/<role>.conf, --config files, the EDGEACTORS_* environment, then the flags.
        Stops gracefully on SIGTERM or Ctrl-C.
        """, [Roles, Host, Port, Seeds, Config, Set, HoconDir, DataDir, Certs, CertName, Site], RunAsync);

    public static NodeOptions Parse(ParseResult args) => new()
    {
        Roles = args.GetValue(Roles),
        Host = args.GetValue(Host),
        Port = args.GetValue(Port),
        Seeds = args.GetValue(Seeds),
        ConfigFiles = args.GetValue(Config) ?? [],
        Sets = args.GetValue(Set) ?? [],
        HoconDirectory = args.GetValue(HoconDir),
        DataDirectory = args.GetValue(DataDir),
        CertsDirectory = args.GetValue(Certs),
        CertName = args.GetValue(CertName),
        Site = args.GetValue(Site),
    };

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

    private static async Task<int> RunAsync(ParseResult args)
    {
        var options = Parse(args);
        var (config, roles) = NodeConfig.Build(options, NodeConfig.ProcessEnvironment());
        Console.WriteLine($"edgeactors node: roles={string.Join(",", roles)} address={config.GetString("akka.remote.dot-netty.tcp.hostname")}:{config.GetInt("akka.remote.dot-netty.tcp.port")} seeds={string.Join(",", config.GetStringList("akka.cluster.seed-nodes"))}");
        var crashDelay = CrashRestartGuard.Delay(config);
        using var crashGuard = CrashRestartGuard.Acquire(NodeConfig.DataDirectory(config));
        if (crashGuard.PreviousRunCrashed && crashDelay > TimeSpan.Zero)
        {
            // see CrashRestartGuard: joining while the cluster still holds the crashed predecessor can leave this node's
            // associations with the seed and the other members stuck (Akka.Remote), so wait until it was removed
            Console.WriteLine($"edgeactors node: the previous run in this data directory ended without a clean stop ({crashGuard.PreviousRun}); " +
                              $"waiting {CrashRestartGuard.Describe(crashDelay)} for the cluster to remove it before joining ({CrashRestartGuard.DelayKey})");
            await Task.Delay(crashDelay);
        }
        while (true)
        {
            var (code, restart) = await RunHostAsync(config, roles);
            if (!restart) return code;
            // Akka.Remote stops the whole system when a TLS handshake this node started fails, and a peer that crashes
            // mid-handshake fails it too ("Channel is closed"). This node had joined over TLS, so its certificates are
            // trusted: it left the cluster gracefully and starts again at once instead of exiting (docs/fault-tolerance.md)
            Console.WriteLine("edgeactors node: restarting in-process: Akka.Remote stopped this node for a failed TLS handshake it started " +
                              "after it had joined (a peer that went down mid-handshake); it left the cluster and joins again");
            await Task.Delay(TimeSpan.FromSeconds(1)); // the members finish removing the incarnation that left
        }
    }

    /// <summary>
    /// One run of the node's host. Restart = true when Akka.Remote stopped it for a failed outbound TLS handshake after
    /// it had been Up (so not a certificate this cluster refuses: such a node never joins, and exits with 79).
    /// </summary>
    private static async Task<(int Code, bool Restart)> RunHostAsync(Akka.Configuration.Config config, IReadOnlyList<string> roles)
    {
        using var host = NodeHost.Build(config, roles);
        var lifetime = (IHostApplicationLifetime)host.Services.GetService(typeof(IHostApplicationLifetime))!;
        var wasUp = 0;
        try
        {
            await host.StartAsync();
        }
        catch (OperationCanceledException) when (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            // told to stop while starting (Akka's CoordinatedShutdown, e.g. after a failed TLS handshake, cancels the start of
            // the hosted services after it, such as the HTTP host's bind): a stop with its reason below, not a crash
            await host.StopAsync();
            return (StopCode(ActorSystemOf(host)), false);
        }
        if (ActorSystemOf(host) is { } started)
            Akka.Cluster.Cluster.Get(started).RegisterOnMemberUp(() => Interlocked.Exchange(ref wasUp, 1));
        using var heapReport = HeapReportOnSignal();
        await host.WaitForShutdownAsync();
        var system = ActorSystemOf(host);
        var tlsStop = system is not null && TlsHandshakeStop.StoppedFor(system);
        if (tlsStop && Volatile.Read(ref wasUp) == 1) return (TlsHandshakeStop.ExitCode, true);
        return (StopCode(system), false);
    }

    /// <summary>The node's actor system (resolved once the host started: Akka.Hosting creates it then).</summary>
    private static Akka.Actor.ActorSystem? ActorSystemOf(IHost host) => host.Services.GetService(typeof(Akka.Actor.ActorSystem)) as Akka.Actor.ActorSystem;

    /// <summary>The node's exit code once it stopped: 79 (and why) when Akka stopped it for a failed TLS handshake, else 0.</summary>
    private static int StopCode(Akka.Actor.ActorSystem? system)
    {
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
