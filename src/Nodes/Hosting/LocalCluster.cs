using EdgeActors.Client.Security;
using EdgeActors.Messages;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace EdgeActors.Nodes.Hosting;

/// <summary>One node process to start on 127.0.0.1.</summary>
public sealed record NodeSpec(string Name, IReadOnlyList<string> Roles, int Port, IReadOnlyList<string> ExtraArgs)
{
    public NodeSpec(string name, string roles, int port) : this(name, roles.Split(','), port, []) { }

    /// <summary>The address the node binds and advertises (its namespace's address when the cluster runs in namespaces).</summary>
    public string Host { get; init; } = "127.0.0.1";

    public string HostPort => $"{Host}:{Port}";

    /// <summary>
    /// The node's HTTP port (KServe v2, /v1/devices; TLS when the cluster is secure) or 0: no HTTP host (several nodes
    /// share this machine, so none gets the default 8080).
    /// </summary>
    public int HttpPort { get; init; }

    /// <summary>Its h2c gRPC port on a cluster without TLS (0: none; with TLS gRPC shares <see cref="HttpPort"/>).</summary>
    public int GrpcPort { get; init; }

    /// <summary>The node's HTTP base URL (https on a secure cluster), or null without an HTTP port.</summary>
    public string? HttpUrl(bool secure) => HttpPort > 0 ? $"{(secure ? "https" : "http")}://{Host}:{HttpPort}/" : null;

    /// <summary>
    /// An edge's MQTT broker port (docs/mqtt.md): TLS on it when the cluster is secure, plain MQTT otherwise; 0: the
    /// edge runs no broker (so edges of one machine never compete for the default ports).
    /// </summary>
    public int MqttPort { get; init; }
}

/// <summary>
/// A cluster of real node processes on 127.0.0.1, started from this very executable (<c>edgeactors node …</c>),
/// each writing its output to <c>&lt;dir&gt;/&lt;name&gt;.log</c>. Used by the demo, the benchmarks and the multi-process tests.
/// </summary>
public sealed class LocalCluster : IAsyncDisposable
{
    private readonly Dictionary<string, NodeProcess> _nodes = new();

    public string Directory { get; }
    public IReadOnlyList<NodeSpec> Specs { get; }
    public string SeedHostPort { get; }

    /// <summary>The nodes' network namespaces when the cluster was made with one (partitions), else null.</summary>
    public NetworkNamespaces? Network { get; }

    /// <summary>
    /// The datacenter tier's PostgreSQL database (<c>edgeactors.datacenter.postgres</c> of every datacenter node), or ""
    /// (the default): datacenter nodes then share one SQLite file per singleton under <see cref="Directory"/>. With it
    /// set, datacenter nodes share no file: each keeps only its own data directory.
    /// </summary>
    public string DatacenterPostgres { get; init; } = "";

    /// <summary>
    /// Extra seed nodes (by name) after the first seed node, e.g. the datacenters: every node gets the same list, so a
    /// restarted first seed joins the running cluster through them instead of forming a cluster of its own (with only
    /// itself listed it would). Empty (the default): the first seed node alone.
    /// </summary>
    public IReadOnlyList<string> ExtraSeeds { get; init; } = [];

    /// <summary>
    /// The node executable per node name for its next <see cref="Start"/> (a rolling upgrade starts nodes from an older
    /// build, then from this one); a node not listed runs <see cref="NodeProcess.SelfCommand"/>.
    /// </summary>
    public Dictionary<string, string> Executables { get; } = new();

    /// <summary>
    /// Once the cluster has formed: a node started from now on lists the other seed nodes before itself. Only the node
    /// listed first may form a new cluster by joining itself; a restarted seed listed first that hears from no other
    /// seed within seed-node-timeout (a busy machine, a slow TLS handshake) does so and is an island. Listed after the
    /// others it keeps asking them until one lets it in.
    /// </summary>
    public bool JoinThroughExtraSeeds { get; set; }

    private string SeedListFor(NodeSpec node)
    {
        var all = new[] { SeedHostPort }.Concat(ExtraSeeds.Select(n => Specs.Single(s => s.Name == n).HostPort)).ToList();
        if (JoinThroughExtraSeeds && all.Count > 1)
            all = [.. all.Skip(1).Where(a => a != node.HostPort), .. new[] { all[0] }.Where(a => a != node.HostPort), .. all.Where(a => a == node.HostPort)];
        return string.Join(",", all);
    }

    /// <summary>TLS with mutual authentication between the nodes and client tokens at the gateways (the default).</summary>
    public bool Secure { get; }

    /// <summary>The deployment's certificates (made once, by the same code as <c>edgeactors certs</c>): <c>&lt;dir&gt;/certs</c>.</summary>
    public string CertsDirectory => Path.Combine(Directory, "certs");

    /// <summary>The client name whose certificate and token <see cref="ClientCredentials"/> returns (all scopes).</summary>
    public const string ClientName = "client";

    /// <param name="secure">false: plain TCP and no client tokens (<c>--insecure</c>).</param>
    /// <param name="network">run every node in a network namespace of its own (partitions); null: all on 127.0.0.1.</param>
    public LocalCluster(IReadOnlyList<NodeSpec> specs, string directory, bool secure = true, NetworkNamespaces? network = null)
    {
        Network = network;
        specs = network is null ? specs : specs.Select(s => s with { Host = network.Address(s.Name) }).ToList();
        Specs = specs;
        Directory = directory;
        Secure = secure;
        System.IO.Directory.CreateDirectory(directory);
        var seed = specs.FirstOrDefault(s => s.Roles.Contains("seed")) ?? throw new ArgumentException("a local cluster needs a seed node");
        SeedHostPort = seed.HostPort;
        if (secure)
            Certificates.Ensure(CertsDirectory, specs.Select(s => s.Name), [(ClientName, ClientTokens.Scopes.ToArray())]);
        // node processes never outlive the process that started them (a test whose set-up failed is not disposed)
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAllNow();
    }

    private void KillAllNow()
    {
        foreach (var n in _nodes.Values.ToList()) n.KillHard();
    }

    /// <summary>What a client of this cluster presents (certificate and token); null when the cluster is not secure.</summary>
    public Client.ClientCredentials? ClientCredentials =>
        Secure ? Client.ClientCredentials.FromCertsDirectory(CertsDirectory, ClientName) : null;

    /// <summary>A node's address as the cluster writes it (akka.ssl.tcp with TLS).</summary>
    public string AddressOf(int port) =>
        WellKnown.NodeAddress(Specs.FirstOrDefault(s => s.Port == port)?.HostPort ?? $"127.0.0.1:{port}", Secure);

    /// <summary>A node's address by name.</summary>
    public string AddressOf(string name) => WellKnown.NodeAddress(Specs.Single(s => s.Name == name).HostPort, Secure);

    /// <summary>The default demo layout: one seed, one datacenter, two edges, on consecutive ports.</summary>
    public static IReadOnlyList<NodeSpec> DefaultLayout(int basePort, int edges = 2)
    {
        var list = new List<NodeSpec>
        {
            new("seed", "seed", basePort),
            new("datacenter", "datacenter", basePort + 1),
        };
        for (var i = 0; i < edges; i++) list.Add(new NodeSpec($"edge{i + 1}", "edge", basePort + 2 + i));
        return list;
    }

    /// <summary>
    /// <paramref name="layout"/> with an HTTP port (and, for a cluster without TLS, an h2c gRPC port) on every gateway
    /// node (edge, datacenter): free ports the OS hands out now (the demo; tests allocate theirs from their own range).
    /// </summary>
    public static IReadOnlyList<NodeSpec> WithHttpPorts(IReadOnlyList<NodeSpec> layout, bool grpcPorts = true) =>
        layout.Select(s => s.Roles.Contains("edge") || s.Roles.Contains("datacenter")
            ? s with { HttpPort = FreePort(), GrpcPort = grpcPorts ? FreePort() : 0 }
            : s).ToList();

    /// <summary>A TCP port on the loopback interface that was free a moment ago (the OS's choice).</summary>
    public static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        var port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>The HTTP base URL of every node with an HTTP port, by node name.</summary>
    public IEnumerable<(string Name, string Url)> HttpUrls =>
        Specs.Where(s => s.HttpPort > 0).Select(s => (s.Name, s.HttpUrl(Secure)!));

    public IEnumerable<string> GatewayContacts =>
        Specs.Where(s => s.Roles.Contains("edge") || s.Roles.Contains("datacenter")).Select(s => s.HostPort);

    /// <summary>An HTTP client for the nodes' HTTP hosts: it trusts this cluster's own CA when the cluster is secure.</summary>
    public HttpClient CreateHttpClient(TimeSpan? timeout = null)
    {
        var handler = new System.Net.Http.SocketsHttpHandler();
        var caFile = Path.Combine(CertsDirectory, Certificates.CaCertificateFile);
        if (Secure && File.Exists(caFile))
        {
            // the nodes' HTTPS certificates are issued by the local cluster's own CA
            var ca = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(caFile));
            handler.SslOptions = new System.Net.Security.SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, cert, _, errors) =>
                {
                    if (errors == System.Net.Security.SslPolicyErrors.None) return true;
                    if (cert is null) return false;
                    using var chain = new System.Security.Cryptography.X509Certificates.X509Chain();
                    chain.ChainPolicy.TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(ca);
                    chain.ChainPolicy.RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck;
                    return chain.Build(new System.Security.Cryptography.X509Certificates.X509Certificate2(cert));
                },
            };
        }
        return new HttpClient(handler) { Timeout = timeout ?? TimeSpan.FromSeconds(3) };
    }

    /// <summary>
    /// Waits until every running node with an HTTP port says on <c>/health/ready</c> that it has joined: its member is Up
    /// and its shard region registered (<see cref="NodeHealth.NotJoined"/>; models are not waited for). Nodes without an
    /// HTTP port are not asked (their formation is seen through the client: <see cref="ClusterProbe"/>). Null when every
    /// node joined, else what was still missing at the timeout (or which node exited).
    /// </summary>
    public async Task<string?> WaitJoinedAsync(TimeSpan timeout)
    {
        using var http = CreateHttpClient(TimeSpan.FromSeconds(2));
        var clock = Stopwatch.StartNew();
        var waiting = Specs.Where(s => s.HttpPort > 0).ToList();
        var why = new Dictionary<string, string>();
        while (true)
        {
            var exited = _nodes.Values.FirstOrDefault(n => n.HasExited);
            if (exited is not null) return $"node {exited.Spec.Name} exited with code {exited.ExitCode}; last lines of {exited.LogPath}:\n{exited.Tail()}";
            var answers = await Task.WhenAll(waiting.Select(async s =>
            {
                try
                {
                    using var r = await http.GetAsync(new Uri(new Uri(s.HttpUrl(Secure)!), "health/ready"));
                    return (s, NodeHealth.NotJoined(await r.Content.ReadAsStringAsync()));
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    return (s, (string?)$"no answer ({ex.GetBaseException().Message})");
                }
            }));
            why.Clear();
            foreach (var (s, problem) in answers)
                if (problem is not null) why[s.Name] = problem;
            waiting = answers.Where(a => a.Item2 is not null).Select(a => a.s).ToList();
            if (waiting.Count == 0) return null;
            if (clock.Elapsed > timeout)
                return $"not joined within {timeout.TotalSeconds:0} s: " + string.Join("; ", why.Select(kv => $"{kv.Key}: {kv.Value}"));
            await Task.Delay(250);
        }
    }

    public NodeProcess this[string name] => _nodes[name];

    public IEnumerable<NodeProcess> Nodes => _nodes.Values;

    public void StartAll()
    {
        foreach (var spec in Specs) Start(spec.Name);
    }

    public NodeProcess Start(string name)
    {
        var spec = Specs.Single(s => s.Name == name);
        if (_nodes.TryGetValue(name, out var existing) && !existing.HasExited)
            throw new InvalidOperationException($"node {name} is already running (pid {existing.Pid})");
        var args = new List<string>
        {
            "node", "--roles", string.Join(",", spec.Roles), "--host", spec.Host, "--port", spec.Port.ToString(), "--seeds", SeedListFor(spec),
            "--data-dir", Path.Combine(Directory, spec.Name),
        };
        if (spec.Roles.Contains("datacenter") && DatacenterPostgres.Length > 0)
        {
            // all datacenter state in one PostgreSQL database: nothing shared between the nodes' directories
            args.AddRange(["--set", $"edgeactors.datacenter.postgres = \"{DatacenterPostgres.Replace("\\", "\\\\").Replace("\"", "\\\"")}\""]);
        }
        else if (spec.Roles.Contains("datacenter"))
        {
            // datacenter singletons (model registry, federated round coordinator) fail over between datacenter nodes:
            // on one machine they share one database file each, so the new host continues from the old one's state
            args.AddRange(["--set", $"edgeactors.federated.database-path = \"{Path.GetFullPath(Path.Combine(Directory, "federation.db"))}\""]);
            args.AddRange(["--set", $"edgeactors.registry.database-path = \"{Path.GetFullPath(Path.Combine(Directory, "registry.db"))}\""]);
            args.AddRange(["--set", $"edgeactors.twins.database-path = \"{Path.GetFullPath(Path.Combine(Directory, "twins.db"))}\""]);
        }
        if (Secure) args.AddRange(["--certs", CertsDirectory, "--cert-name", spec.Name]);
        // each edge's site is its node name: devices '<name>/<id>' live on it while it is up
        if (spec.Roles.Contains("edge")) args.AddRange(["--site", spec.Name]);
        args.AddRange(spec.HttpPort > 0
            ? ["--set", $"edgeactors.http.port = {spec.HttpPort}", "--set", $"edgeactors.http.grpc-port = {spec.GrpcPort}"]
            : ["--set", "edgeactors.http.enabled = off"]);
        if (spec.Roles.Contains("edge")) args.AddRange(MqttArgs(spec));
        args.AddRange(spec.ExtraArgs);
        var node = NodeProcess.Start(spec, args, Path.Combine(Directory, spec.Name + ".log"), Network,
            Executables.TryGetValue(name, out var executable) ? executable : null);
        _nodes[name] = node;
        return node;
    }

    private string[] MqttArgs(NodeSpec spec) => spec.MqttPort <= 0
        ? ["--set", "edgeactors.mqtt.enabled = off"]
        :
        [
            "--set", "edgeactors.mqtt.enabled = on", "--set", $"edgeactors.mqtt.bind = \"{spec.Host}\"",
            "--set", $"edgeactors.mqtt.port = {(Secure ? 0 : spec.MqttPort)}", "--set", $"edgeactors.mqtt.tls-port = {(Secure ? spec.MqttPort : 0)}",
        ];

    /// <summary>Where an edge's MQTT broker listens (<c>host:port</c>; TLS when the cluster is secure), null when it runs none.</summary>
    public string? MqttEndpoint(string name) =>
        Specs.Single(s => s.Name == name) is { MqttPort: > 0 } spec ? $"{spec.Host}:{spec.MqttPort}" : null;

    /// <summary>
    /// Graceful stop of every running node (SIGTERM), one at a time: edges, then the datacenter, then the seed, so a
    /// leaving node always has a leader to remove it (nodes leaving together wait out cluster-exiting). Seconds per node.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, double>> StopAllAsync(TimeSpan timeout)
    {
        var result = new Dictionary<string, double>();
        var order = _nodes.Values.Where(n => !n.HasExited)
            .OrderBy(n => n.Spec.Roles.Contains("seed") ? 2 : n.Spec.Roles.Contains("datacenter") ? 1 : 0)
            .ToList();
        foreach (var n in order) result[n.Spec.Name] = await n.StopAsync(timeout);
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var n in _nodes.Values) n.KillHard();
        foreach (var n in _nodes.Values) await n.WaitForExitAsync(TimeSpan.FromSeconds(10));
    }
}

/// <summary>A running node process whose stdout/stderr go to a log file.</summary>
public sealed class NodeProcess
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly object _gate = new();

    public NodeSpec Spec { get; }
    public string LogPath { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    private NodeProcess(NodeSpec spec, Process process, StreamWriter log, string logPath)
    {
        Spec = spec;
        _process = process;
        _log = log;
        LogPath = logPath;
    }

    /// <param name="executable">the node executable to run (an apphost); null: <see cref="SelfCommand"/>.</param>
    public static NodeProcess Start(NodeSpec spec, IReadOnlyList<string> args, string logPath, NetworkNamespaces? network = null, string? executable = null)
    {
        var (file, prefix) = executable is null ? SelfCommand() : (executable, Array.Empty<string>());
        if (network is not null)
        {
            // "ip netns exec" execs the node in place: same pid, so signals and kills reach the node itself
            var wrapped = network.Wrap(spec.Name, file, prefix);
            (file, prefix) = (wrapped.File, wrapped.Args.ToArray());
        }
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        foreach (var a in prefix.Concat(args)) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_gcServer"] = "0";
        var log = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        log.WriteLine($"# {DateTime.UtcNow:O} starting {file} {string.Join(' ', prefix.Concat(args))}");
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var node = new NodeProcess(spec, process, log, logPath);
        process.OutputDataReceived += (_, e) => node.Write(e.Data);
        process.ErrorDataReceived += (_, e) => node.Write(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    /// <summary>How to run this executable again: the apphost directly, or <c>dotnet edgeactors.dll</c>.</summary>
    /// <summary>Environment variable naming the node executable to start, overriding the one next to this assembly.</summary>
    public const string NodeExecutableVariable = "EDGEACTORS_NODE_EXECUTABLE";

    /// <summary>
    /// How to start <c>edgeactors node</c>: <see cref="NodeExecutableVariable"/> when set, else the product's apphost next to
    /// its assembly (the product, edgeactors-tools and the test projects all have it in their output folder), else
    /// <c>dotnet edgeactors.dll</c>.
    /// </summary>
    public static (string File, string[] Prefix) SelfCommand()
    {
        var configured = Environment.GetEnvironmentVariable(NodeExecutableVariable);
        if (!string.IsNullOrWhiteSpace(configured)) return (configured, []);
        var dll = typeof(NodeProcess).Assembly.Location;
        var dir = Path.GetDirectoryName(dll)!;
        var apphost = Path.Combine(dir, "edgeactors");
        if (File.Exists(apphost)) return (apphost, []);
        return ("dotnet", [dll]);
    }

    private void Write(string? line)
    {
        if (line is null) return;
        lock (_gate) _log.WriteLine(line);
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
    private static extern int SysKill(int pid, int sig);

    public void Signal(int signal)
    {
        if (!_process.HasExited) SysKill(_process.Id, signal);
    }

    /// <summary>SIGKILL: the process dies at once, no shutdown of any kind (a crash).</summary>
    public void KillHard()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
    }

    /// <summary>SIGTERM and wait; SIGKILL after the timeout. Returns seconds until exit.</summary>
    public async Task<double> StopAsync(TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        Signal(15);
        if (!await WaitForExitAsync(timeout))
        {
            Write($"# did not exit within {timeout.TotalSeconds}s of SIGTERM; killing");
            KillHard();
            await WaitForExitAsync(TimeSpan.FromSeconds(5));
        }
        return sw.Elapsed.TotalSeconds;
    }

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public string Tail(int lines = 30)
    {
        try
        {
            using var fs = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(fs);
            var all = reader.ReadToEnd().Split('\n');
            return string.Join('\n', all.TakeLast(lines));
        }
        catch (IOException ex)
        {
            return $"(log unreadable: {ex.Message})";
        }
    }
}
