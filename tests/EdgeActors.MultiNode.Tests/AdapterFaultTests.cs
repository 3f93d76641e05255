using System.Diagnostics;
using EdgeActors.Messages;
using EdgeActors.Client;
using EdgeActors.Nodes.Commands;
using EdgeActors.Nodes.Hosting;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// Real node processes (seed, datacenter, two edges) whose edges run simulated sensor hardware adapters with every kind
/// of fault injected (exceptions, hangs, garbage values, disconnects, clock jumps), configured only through
/// <c>--set</c> lines. Each adapter produces a fixed number of readings; the device entities (on either edge) must then
/// hold every valid one exactly once, with the faults counted and the health transitions seen, and no edge process may
/// have restarted.
/// </summary>
public sealed class AdapterFaultTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int DevicesPerEdge = 3;
    private const int ReadingsPerDevice = 150;
    private LocalCluster _cluster = null!;
    private EdgeClient _client = null!;
    private int[] _ports = [];

    private static string[] Adapters(string prefix) =>
    [
        "--set", "edgeactors.adapters.enabled = on",
        "--set", $"edgeactors.adapters.devices {{ count = {DevicesPerEdge}, prefix = \"{prefix}\" }}",
        "--set", "edgeactors.adapters.read-interval = 50ms",
        "--set", $"edgeactors.adapters.max-readings = {ReadingsPerDevice}",
        "--set", "edgeactors.adapters.seed = 11",
        "--set", "edgeactors.adapters.faults { exception = 0.02, hang = 0.01, garbage = 0.03, disconnect = 0.01, clock-jump = 0.01, disconnect-duration = 1s }",
        "--set", "edgeactors.adapters.backoff { min = 100ms, max = 1s }",
    ];

    public async Task InitializeAsync()
    {
        _ports = Ports.Free(4);
        var dir = TestCluster.FreshDirectory("adapters", _ports[0]);
        _cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", _ports[0]),
            new NodeSpec("datacenter", "datacenter", _ports[1]),
            new NodeSpec("edge1", ["edge"], _ports[2], Adapters("e1-")),
            new NodeSpec("edge2", ["edge"], _ports[3], Adapters("e2-")),
        ], dir);
        _cluster.StartAll();
        _client = EdgeClient.Connect(TestCluster.ClientOptions(_cluster, _ports[2], _ports[3]) with
        {
            RequestTimeout = TimeSpan.FromSeconds(2),
            RetryDeadline = TimeSpan.FromSeconds(60),
            MaxBackoff = TimeSpan.FromMilliseconds(500),
        });
        var overview = await ClusterProbe.WaitForMembersAsync(_client, _cluster, 4, TimeSpan.FromSeconds(60));
        Assert.True(overview is not null, "cluster of 4 node processes did not form; node logs in " + dir);
        output.WriteLine($"cluster formed: {ClusterProbe.Describe(overview!)}");
    }

    public Task DisposeAsync() => TestCluster.StopAsync(_client, _cluster, output);

    [Fact]
    public async Task Faulty_adapters_should_lose_nothing_and_their_devices_should_go_degraded_offline_and_recover()
    {
        var pids = new[] { "edge1", "edge2" }.ToDictionary(n => n, n => _cluster[n].Pid);
        var devices = new[] { "e1-", "e2-" }
            .SelectMany(p => Enumerable.Range(0, DevicesPerEdge).Select(i => new DeviceId($"{p}sensor-{i:D2}")))
            .ToArray();

        // the cluster keeps serving clients while the adapters fail and restart
        var client = new TelemetryBatch(new DeviceId("plain-client-sensor"), 2, [1, 2, 3], [1, 2, 3], [1, 2, 3, 4, 5, 6]);
        var clock = Stopwatch.StartNew();
        for (var b = 0; b < 10; b++)
        {
            var reply = await _client.SendTelemetryAsync(client with { Sequences = client.Sequences.Select(s => s + 3 * b).ToArray() });
            Assert.Equal(3, reply.Value.Accepted);
            await Task.Delay(300);
        }

        var states = new Dictionary<DeviceId, DeviceState>();
        var deadline = TimeSpan.FromSeconds(120);
        foreach (var id in devices)
        {
            while (true)
            {
                var s = await _client.GetDeviceStateAsync(id);
                if (s.Sensor is { Unacknowledged: 0, Produced: ReadingsPerDevice } && s.HighestContiguous == ReadingsPerDevice)
                {
                    states[id] = s;
                    break;
                }
                Assert.True(clock.Elapsed < deadline,
                    $"{id}: not every reading produced and acknowledged; last sequence {s.LastSequence}, sensor {s.Sensor}; logs in {_cluster.Directory}");
                await Task.Delay(250);
            }
        }
        output.WriteLine($"all {devices.Length} adapters done after {clock.Elapsed.TotalSeconds:0.0}s of streaming");

        foreach (var (id, s) in states)
        {
            var h = s.Sensor!;
            var garbage = s.Rejections.Where(r => r.Reason is RejectReason.NotANumber or RejectReason.OutOfRange).Sum(r => r.Count);
            output.WriteLine($"{id} on {s.Node}: accepted {s.AcceptedReadings} garbage {garbage} health {h.Health} ({h.Reason}) " +
                             $"degraded {h.Degradations}x offline {h.Offlines}x recovered {h.Recoveries}x restarts {h.Restarts} " +
                             $"faults {string.Join(" ", h.Faults.Select(f => $"{f.Kind}={f.Count}"))}");
            Assert.Equal(ReadingsPerDevice, s.LastSequence);
            Assert.Equal(ReadingsPerDevice, s.HighestContiguous); // no gap
            Assert.Equal(ReadingsPerDevice, h.AdapterLastSequence); // numbering survived every restart: no reuse, no skip
            Assert.Equal(ReadingsPerDevice - garbage, s.AcceptedReadings); // every valid reading exactly once
            Assert.Equal(garbage, h.FaultsOf(SensorFault.Garbage));
            Assert.Equal(0, h.Dropped);
            Assert.Contains(s.Node, new[] { Addr(_ports[2]), Addr(_ports[3]) });
        }

        output.WriteLine($"{states.Values.Count(s => s.Node != s.Sensor!.AdapterNode)} of {states.Count} device entities live on the other edge than their adapter");
        // what `edgeactors status --device <id>` prints for a device with an adapter
        var status = new StringWriter();
        StatusCommand.WriteDevice(status, states[devices[0]]);
        output.WriteLine(status.ToString());
        Assert.Contains($"  health {states[devices[0]].Sensor!.Health} since ", status.ToString());
        Assert.Contains($"produced {ReadingsPerDevice}, last sequence {ReadingsPerDevice}, unacknowledged 0, dropped 0", status.ToString());
        long Total(Func<SensorStatus, long> f) => states.Values.Sum(s => f(s.Sensor!));
        foreach (var kind in new[] { SensorFault.Exception, SensorFault.Hang, SensorFault.Garbage, SensorFault.Disconnect, SensorFault.ClockJump })
            Assert.True(Total(h => h.FaultsOf(kind)) > 0, $"no {kind} fault was injected and detected");
        var summary = $"ADAPTERS devices={states.Count} readings={states.Count * ReadingsPerDevice} streaming_s={clock.Elapsed.TotalSeconds:0.0} " +
                      $"accepted={states.Values.Sum(s => s.AcceptedReadings)} lost=0 duplicates_accepted=0 " +
                      string.Join(" ", Enum.GetValues<SensorFault>().Select(k => $"{k}={Total(h => h.FaultsOf(k))}")) +
                      $" restarts={Total(h => h.Restarts)} degraded={Total(h => h.Degradations)} offline={Total(h => h.Offlines)} recovered={Total(h => h.Recoveries)}";
        output.WriteLine(summary);
        Console.WriteLine(summary);
        Assert.True(Total(h => h.Degradations) > 0, "no device was ever Degraded");
        Assert.True(Total(h => h.Offlines) > 0, "no device was ever Offline");
        Assert.True(Total(h => h.Recoveries) > 0, "no device recovered");
        Assert.True(Total(h => h.Restarts) > 0, "no adapter restarted");
        // faulted, recovered and still Ok when its adapter stopped
        Assert.Contains(states.Values, s => s.Sensor!.Health == DeviceHealth.Ok && s.Sensor.Recoveries > 0);

        foreach (var (name, pid) in pids)
        {
            Assert.False(_cluster[name].HasExited, $"{name} exited; log {_cluster[name].LogPath}");
            Assert.Equal(pid, _cluster[name].Pid);
        }
        var overview = await _client.GetOverviewAsync();
        Assert.Equal(4, overview.Members.Count(m => m.Status == "Up"));
    }

    private string Addr(int port) => _cluster.AddressOf(port);
}
