using EdgeActors.Client;
using EdgeActors.Client.Security;
using EdgeActors.Messages;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Nodes.Simulation;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// The set-up ObservabilityTests and ConsoleTests share: seed, datacenter, edge1 and edge2 as node processes, each with
/// an HTTP port (TLS, client tokens), a client connected to the edges, the cluster formed (every node's /health/ready
/// says its member is Up and, on the edges, its shard region registered: <see cref="LocalCluster.WaitJoinedAsync"/>), and devices streaming through the client until disposal.
/// </summary>
internal sealed class HttpCluster : IAsyncDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _streams = [];
    private long _sent;

    public LocalCluster Cluster { get; }
    public EdgeClient Client { get; private set; } = null!;
    public string Directory { get; }

    /// <summary>Ports the test asked for beyond the cluster's 8 (a Prometheus, …).</summary>
    public int[] ExtraPorts { get; }

    /// <summary>The deployment's CA certificate (curl --cacert, Prometheus' ca_file).</summary>
    public string CaFile => Path.Combine(Cluster.CertsDirectory, Certificates.CaCertificateFile);

    /// <summary>Telemetry batches sent so far by <see cref="Stream"/>.</summary>
    public long Sent => Interlocked.Read(ref _sent);

    private HttpCluster(LocalCluster cluster, string directory, int[] extra, ITestOutputHelper output)
    {
        Cluster = cluster;
        Directory = directory;
        ExtraPorts = extra;
        _output = output;
    }

    /// <summary>Starts the four nodes and the client and waits until the cluster has formed (fails the test if not within 90 s).</summary>
    public static async Task<HttpCluster> StartAsync(string name, ITestOutputHelper output, int extraPorts = 0)
    {
        var p = Ports.Free(8 + extraPorts);
        var dir = TestCluster.FreshDirectory(name, p[0]);
        var cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", p[0]) { HttpPort = p[4] },
            new NodeSpec("datacenter", "datacenter", p[1]) { HttpPort = p[5] },
            new NodeSpec("edge1", "edge", p[2]) { HttpPort = p[6] },
            new NodeSpec("edge2", "edge", p[3]) { HttpPort = p[7] },
        ], dir);
        var h = new HttpCluster(cluster, dir, p[8..], output);
        try
        {
            cluster.StartAll();
            h.Client = EdgeClient.Connect(TestCluster.ClientOptions(cluster, p[2], p[3]) with
            {
                RequestTimeout = TimeSpan.FromSeconds(5),
                RetryDeadline = TimeSpan.FromSeconds(60),
            });
            // formation seen on the nodes' own /health/ready (member Up, edges' shard regions registered), not through the client
            var notJoined = await cluster.WaitJoinedAsync(TimeSpan.FromSeconds(90));
            Assert.True(notJoined is null, $"cluster did not form: {notJoined}; logs in {dir}");
            return h;
        }
        catch
        {
            await h.DisposeAsync();
            throw;
        }
    }

    /// <summary>The HTTP base URL of node <paramref name="name"/> (https, trailing slash).</summary>
    public string Url(string name) => Cluster.Specs.Single(s => s.Name == name).HttpUrl(Cluster.Secure)!;

    /// <summary>
    /// Streams telemetry of <paramref name="devices"/> devices named <c>{prefix}{00..}</c> through the client (5 readings
    /// of 4 channels every 50 ms each) until disposal.
    /// </summary>
    public void Stream(string prefix, int devices)
    {
        var c = Client;
        _streams.Add(Task.WhenAll(Enumerable.Range(0, devices).Select(async d =>
        {
            var g = new TelemetryGenerator(new DeviceId($"{prefix}{d:D2}"), 4, FaultSettings.None, d + 1);
            for (var b = 0; !_stop.IsCancellationRequested; b++)
            {
                await c.SendTelemetryAsync(g.NextBatch(5, 1_700_000_000_000 + b * 1000L, 10));
                Interlocked.Increment(ref _sent);
                try { await Task.Delay(50, _stop.Token); } catch (OperationCanceledException) { }
            }
        })));
    }

    /// <summary>Waits until <see cref="Stream"/> has sent at least <paramref name="batches"/> batches.</summary>
    public async Task WaitSentAsync(long batches)
    {
        while (Sent < batches) await Task.Delay(100);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        foreach (var s in _streams)
        {
            try
            {
                await s.WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (Exception ex)
            {
                _output.WriteLine("streaming ended: " + ex.Message);
            }
        }
        await TestCluster.StopAsync(Client, Cluster, _output);
        _stop.Dispose();
    }
}
