using EdgeActors.Actors.Security;
using EdgeActors.Client.Security;
using EdgeActors.Messages;
using EdgeActors.Client;
using EdgeActors.Nodes.Commands;
using EdgeActors.Nodes.Hosting;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>One TLS cluster of real node processes (seed, edge) with client tokens on, shared by the security tests.</summary>
public sealed class SecureClusterFixture : IAsyncLifetime
{
    public LocalCluster Cluster { get; private set; } = null!;
    public EdgeClient Client { get; private set; } = null!;
    public int[] Ports { get; private set; } = [];
    public string Directory { get; private set; } = "";
    public string FormedIn { get; private set; } = "";

    public async Task InitializeAsync()
    {
        Ports = MultiNode.Tests.Ports.Free(3); // seed, edge, and one for the node from another deployment
        Directory = TestCluster.FreshDirectory("security", Ports[0]);
        string[] light =
        [
            "--set", "edgeactors.federated.enabled = off",
            // the client-restart test stalls the edge (SIGSTOP) for ~10 s to have the client quarantine it: the two
            // nodes must not down each other over that (the node default, 2.5 s, would down one side of this pair)
            "--set", "akka.cluster.split-brain-resolver.stable-after = 60s",
        ];
        Cluster = new LocalCluster(
        [
            new NodeSpec("seed", ["seed"], Ports[0], light),
            new NodeSpec("edge1", ["edge"], Ports[1], light),
        ], Directory);
        Assert.True(Cluster.Secure);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Cluster.StartAll();
        Client = EdgeClient.Connect(TestCluster.ClientOptions(Cluster, Ports[1]) with
        {
            RequestTimeout = TimeSpan.FromSeconds(5),
            RetryDeadline = TimeSpan.FromSeconds(30),
        });
        var overview = await ClusterProbe.WaitForMembersAsync(Client, Cluster, 2, TimeSpan.FromSeconds(90));
        Assert.True(overview is not null, "TLS cluster of 2 node processes did not form; node logs in " + Directory);
        FormedIn = $"{sw.Elapsed.TotalSeconds:0.0}s: {ClusterProbe.Describe(overview!)}";
    }

    public Task DisposeAsync() => TestCluster.StopAsync(Client, Cluster);
}

/// <summary>
/// Transport security with real processes: mutual TLS between nodes and client (certificates from the deployment's
/// CA, made by the same code as <c>edgeactors certs</c>), a node from another deployment cannot join, and clients
/// without a valid, authorised token are refused at the gateway with nothing accepted.
/// </summary>
public sealed class SecurityTests(SecureClusterFixture fixture, ITestOutputHelper output) : IClassFixture<SecureClusterFixture>
{
    private LocalCluster Cluster => fixture.Cluster;

    private static TelemetryBatch Batch(string device, int first = 1, int count = 5) =>
        new(new DeviceId(device), 1,
            Enumerable.Range(first, count).Select(i => (long)i).ToArray(),
            Enumerable.Range(first, count).Select(i => 1_735_689_600_000L + i).ToArray(),
            Enumerable.Range(first, count).Select(i => (float)i).ToArray());

    private EdgeClient Connect(ClientCredentials? credentials) => EdgeClient.Connect(new EdgeClientOptions
    {
        Contacts = [Cluster.Specs[1].HostPort],
        Credentials = credentials,
        RequestTimeout = TimeSpan.FromSeconds(5),
        RetryDeadline = TimeSpan.FromSeconds(30),
    });

    [Fact]
    public async Task A_TLS_cluster_should_form_and_serve_a_client_with_certificate_and_token()
    {
        output.WriteLine("formed in " + fixture.FormedIn);
        var overview = await fixture.Client.GetOverviewAsync();
        Assert.All(overview.Members, m => Assert.StartsWith("akka.ssl.tcp://", m.Address));
        Assert.Contains(overview.Members, m => m.Address == Cluster.AddressOf(fixture.Ports[1]) && m.Status == "Up");

        var ack = (await fixture.Client.SendTelemetryAsync(Batch("sec-valid"))).Value;

        Assert.Equal(5, ack.Accepted);
        Assert.Equal(5, (await fixture.Client.GetDeviceStateAsync(new DeviceId("sec-valid"))).AcceptedReadings);
    }

    [Fact]
    public async Task A_node_with_a_certificate_from_another_CA_should_not_join_and_the_log_should_say_why()
    {
        // a second deployment: its own CA and a node certificate from it (what a second `certs --out` run makes)
        var foreign = Path.Combine(fixture.Directory, "foreign-certs");
        Assert.Equal(0, await EdgeActors.Nodes.Cli.RunAsync(["certs", "--out", foreign, "--nodes", "rogue", "--clients", "rogue-app"]));
        var spec = new NodeSpec("rogue", ["edge"], fixture.Ports[2], []);
        var log = Path.Combine(fixture.Directory, "rogue.log");
        var rogue = NodeProcess.Start(spec,
        [
            "node", "--roles", "edge", "--host", "127.0.0.1", "--port", spec.Port.ToString(), "--seeds", Cluster.SeedHostPort,
            "--data-dir", Path.Combine(fixture.Directory, "rogue"), "--certs", foreign, "--cert-name", "rogue",
            "--set", "edgeactors.federated.enabled = off", "--set", "edgeactors.mqtt.enabled = off",
        ], log);
        try
        {
            // it tries to join the seed; the TLS handshake fails and it stops (Akka shuts a node down on a failed handshake)
            var exited = await rogue.WaitForExitAsync(TimeSpan.FromSeconds(60));
            output.WriteLine($"rogue exited={exited} code={rogue.ExitCode}\n{rogue.Tail(40)}");
            var overview = await fixture.Client.GetOverviewAsync();
            Assert.DoesNotContain(overview.Members, m => m.Address.EndsWith($":{spec.Port}"));
            Assert.True(exited, "the node from another deployment kept running; log: " + log);
            Assert.Equal(79, rogue.ExitCode);
            var text = File.ReadAllText(log);
            Assert.Contains($"TLS: refused peer ssl.tcp://edgeactors@127.0.0.1:{fixture.Ports[0]}", text);
            Assert.Contains("is not valid for this deployment's CA", text);
            Assert.Contains("a TLS handshake with another node failed", text);

            // and a client with that deployment's certificate gets a clear error instead of a timeout
            await using var stranger = Connect(ClientCredentials.FromCertsDirectory(foreign, "rogue-app"));
            var ex = await Assert.ThrowsAsync<EdgeClientException>(() => stranger.TryOnceAsync<ClusterOverview>(GetClusterOverview.Instance, TimeSpan.FromSeconds(10)));
            output.WriteLine(ex.Message);
            Assert.Contains("TLS handshake with the cluster failed", ex.Message);
        }
        finally
        {
            rogue.KillHard();
        }
    }

    /// <summary>
    /// Akka.Remote stops an ActorSystem when one of its outbound TLS handshakes fails, also when the peer only closes
    /// the connection mid-handshake (a node restarting or cut off), and a quarantine cuts an ActorSystem off a node for
    /// good (here a real one: the edge stalls past the client's remote watcher's tolerance). A client that was served
    /// keeps serving its app: it restarts in a new incarnation and the requests in flight go through it.
    /// </summary>
    [Fact]
    public async Task A_served_client_should_carry_on_after_a_peer_closes_a_tls_handshake()
    {
        await using var client = Connect(TestCluster.ClientOptions(Cluster, fixture.Ports[1]).Credentials);
        Assert.Equal(5, (await client.SendTelemetryAsync(Batch("sec-restart", 1))).Value.Accepted);
        var first = client.System;

        // a peer that accepts TCP connections and closes them at once: the client's TLS handshake to it fails
        using var closer = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        closer.Start();
        var port = ((System.Net.IPEndPoint)closer.LocalEndpoint).Port;
        var closing = Task.Run(async () =>
        {
            while (true)
            {
                using var c = await closer.AcceptTcpClientAsync();
                c.Client.Close();
            }
        });
        first.ActorSelection($"akka.ssl.tcp://edgeactors@127.0.0.1:{port}/user/nobody").Tell("hello");
        Assert.True(await first.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(t => t.IsCompletedSuccessfully),
            "the client's actor system did not stop after the failed TLS handshake (Akka.Remote's behaviour changed?)");

        // the next requests are answered by a new incarnation; nothing is lost or doubled
        var ack = (await client.SendTelemetryAsync(Batch("sec-restart", 6))).Value;
        Assert.Equal(5, ack.Accepted);
        Assert.Equal(10, (await client.GetDeviceStateAsync(new DeviceId("sec-restart"))).AcceptedReadings);
        Assert.Equal(1, client.Restarts);
        Assert.NotSame(first, client.System);
        output.WriteLine($"client restarted {client.Restarts} time(s); served again by {ack.Node}");
        Assert.False(closing.IsCompleted);

        // a real quarantine (Akka.Remote's verdict after missed heartbeats): the edge the client streams to stalls
        // (SIGSTOP, as a long GC pause or a frozen VM would) for longer than the client's remote watcher tolerates
        // (watch-failure-detector: 8 s pause); the watcher gives up on it and Akka.Remote quarantines that node's
        // incarnation, which cuts this ActorSystem off it for good: the client carries on in a new ActorSystem, and
        // the request in flight during the stall is answered through it
        var second = client.System;
        var quarantines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var probe = second.ActorOf(Akka.Actor.Props.Create(() => new QuarantineProbe(quarantines)), "quarantine-probe");
        second.EventStream.Subscribe(probe, typeof(Akka.Remote.QuarantinedEvent));
        second.EventStream.Subscribe(probe, typeof(Akka.Remote.ThisActorSystemQuarantinedEvent));
        // the client's remote watcher watches the edge since the ingest stream found its endpoint (batch 6 above); it
        // can quarantine the edge only once it knows the edge's UID, from a heartbeat reply (it heartbeats every second):
        // an address whose UID it never learned is only gated, not quarantined
        await Task.Delay(TimeSpan.FromSeconds(5));
        var edge = Cluster["edge1"];
        var stall = System.Diagnostics.Stopwatch.StartNew();
        Signal(edge.Pid, "STOP");
        Task<Reply<IngestAck>> inFlight;
        bool replaced;
        try
        {
            inFlight = client.SendTelemetryAsync(Batch("sec-restart", 11));
            replaced = await second.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(40)).ContinueWith(t => t.IsCompletedSuccessfully);
        }
        finally
        {
            Signal(edge.Pid, "CONT");
        }
        output.WriteLine($"edge1 stalled {stall.Elapsed.TotalSeconds:0.0}s; client's system replaced: {replaced}; quarantine events: {string.Join(" | ", quarantines)}");
        Assert.True(replaced, "the client did not replace its actor system while the edge it streams to stalled");
        Assert.Contains(quarantines, q => q.Contains(Cluster.AddressOf(fixture.Ports[1]), StringComparison.Ordinal));
        var reply = await inFlight;
        // accepted through the new incarnation, or (Duplicate on the retry) by the stalled edge once it resumed
        var accepted = reply.Value.Accepted + (reply.Attempts > 1 ? reply.Value.Rejected.Count(r => r.Reason == RejectReason.Duplicate) : 0);
        Assert.Equal(5, accepted);
        Assert.Equal(2, client.Restarts);
        Assert.NotSame(second, client.System);
        Assert.Equal(5, (await client.SendTelemetryAsync(Batch("sec-restart", 16))).Value.Accepted);
        Assert.Equal(20, (await client.GetDeviceStateAsync(new DeviceId("sec-restart"))).AcceptedReadings);
        Assert.Equal(2, client.Restarts);
    }

    /// <summary>Records the quarantine events of the ActorSystem it runs in (subscribed by the test).</summary>
    private sealed class QuarantineProbe : Akka.Actor.ReceiveActor
    {
        public QuarantineProbe(System.Collections.Concurrent.ConcurrentQueue<string> seen)
        {
            Receive<Akka.Remote.QuarantinedEvent>(q => seen.Enqueue($"QuarantinedEvent {q.Address} uid {q.Uid}"));
            Receive<Akka.Remote.ThisActorSystemQuarantinedEvent>(q => seen.Enqueue($"ThisActorSystemQuarantinedEvent by {q.RemoteAddress}"));
        }
    }

    private static void Signal(int pid, string signal)
    {
        using var kill = System.Diagnostics.Process.Start("kill", [$"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    [Fact]
    public async Task Clients_without_a_valid_authorised_token_should_be_refused_and_nothing_they_sent_accepted()
    {
        var device = new DeviceId("sec-guarded");
        var valid = Cluster.ClientCredentials!;
        // a client allowed to read, not to ingest (added to the same deployment, as `certs` does for a new name)
        Certificates.Ensure(Cluster.CertsDirectory, [], [("reader", [ClientTokens.Query])]);
        var tampered = valid.Token![..^3] + (valid.Token[^3] == 'A' ? 'B' : 'A') + valid.Token[^2..];
        var cases = new (string Name, ClientCredentials Credentials, string Reason)[]
        {
            ("no token", valid with { Token = null }, "requires a client token"),
            ("tampered token", valid with { Token = tampered }, "signature is invalid"),
            ("token without ingest", ClientCredentials.FromCertsDirectory(Cluster.CertsDirectory, "reader"), "needs scope 'ingest'"),
        };
        foreach (var (name, credentials, reason) in cases)
        {
            await using var client = Connect(credentials);
            var ex = await Assert.ThrowsAsync<EdgeClientException>(() => client.SendTelemetryAsync(Batch(device.Value)));
            output.WriteLine($"{name}: {ex.Message}");
            Assert.Contains("rejected by the cluster", ex.Message);
            Assert.Contains(reason, ex.Message);
        }

        var state = await fixture.Client.GetDeviceStateAsync(device);
        Assert.Equal(0, state.AcceptedReadings);

        // the same batch from the valid client is accepted in full: nothing of it was taken before
        Assert.Equal(5, (await fixture.Client.SendTelemetryAsync(Batch(device.Value))).Value.Accepted);
    }

    [Fact]
    public async Task A_client_without_a_certificate_should_get_a_clear_error_from_a_TLS_cluster()
    {
        var valid = Cluster.ClientCredentials!;
        var cases = new (string Name, ClientCredentials? Credentials)[]
        {
            ("token but no certificate", valid with { Certificate = null, CaCertificate = null }),
            ("no credentials", null),
        };
        foreach (var (name, credentials) in cases)
        {
            await using var client = EdgeClient.Connect(new EdgeClientOptions
            {
                Contacts = [Cluster.Specs[1].HostPort],
                Credentials = credentials,
                RequestTimeout = TimeSpan.FromSeconds(3),
                RetryDeadline = TimeSpan.FromSeconds(8),
            });
            var ex = await Assert.ThrowsAnyAsync<Exception>(() => client.SendTelemetryAsync(Batch("sec-no-cert")));
            output.WriteLine($"{name}: {ex.GetType().Name}: {ex.Message}");
            // clear: it says the cluster needs TLS / a certificate, not only that no reply came
            Assert.True(ex.Message.Contains("TLS", StringComparison.OrdinalIgnoreCase) || ex.Message.Contains("certificate", StringComparison.OrdinalIgnoreCase),
                $"{name}: unclear error: {ex.Message}");
        }
        Assert.Equal(0, (await fixture.Client.GetDeviceStateAsync(new DeviceId("sec-no-cert"))).AcceptedReadings);
    }
}
