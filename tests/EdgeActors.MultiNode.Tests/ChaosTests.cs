using EdgeActors.Nodes;
using EdgeActors.Tools.Chaos;
using EdgeActors.Nodes.Simulation;
using EdgeActors.Tools.Commands;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// The chaos run in a short form: five real node processes (each in a network namespace of its own), the simulator
/// streaming through the client, an edge SIGKILLed and restarted, an edge cut off by a network partition and healed,
/// hostile requests in between. Fails if anything acknowledged is missing from the datacenter's store, anything is
/// stored or acknowledged twice, a hostile request goes unanswered, or a node is down at the end.
/// </summary>
public sealed class ChaosTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Chaos_run_should_lose_and_duplicate_nothing_and_end_with_every_node_up()
    {
        var refused = Nodes.Hosting.NetworkNamespaces.Probe();
        Assert.True(refused is null, $"cannot make network namespaces for the chaos run's partitions: {refused}");
        var dir = Path.Combine(Path.GetTempPath(), "edgeactors-tests", $"chaos-{Environment.ProcessId}");
        var lines = new List<string>();
        var summary = await new ChaosRun(new ChaosOptions
        {
            Duration = TimeSpan.FromSeconds(36),
            Edges = 3,
            Seed = 7,
            BasePort = 4653, // every node has an address of its own in its namespace: no port clashes with the machine
            Directory = dir,
            FaultInterval = TimeSpan.FromSeconds(5),
            Plan = ["kill", "malformed", "partition", "malformed"],
            // every edge runs four sensor adapters with every hardware fault kind at 2 % per read
            EdgeArgs = ChaosCommand.FaultArgs(sensorFaults: 0.02, gpuFaults: 0, seed: 7),
            AdapterDevicesPerEdge = ChaosCommand.AdapterDevices,
            Simulator = new SimulatorOptions { Sensors = 30, Cameras = 3, ReadingsPerSecond = 3_000, FramesPerSecond = 6, BatchSize = 20, DevicePrefix = "chaos-" },
            Log = l => { lock (lines) lines.Add(l); output.WriteLine(l); },
        }).RunAsync();
        output.WriteLine(summary.Line);
        Assert.True(summary.Kills >= 1, "the run should have killed an edge");
        Assert.True(summary.PartitionsMade >= 1, "the run should have partitioned an edge");
        Assert.True(summary.MalformedSent > 0);
        Assert.Equal(summary.MalformedSent, summary.MalformedAnswered);
        Assert.True(summary.Accepted > 10_000, $"too little streamed: {summary.Accepted}");
        Assert.True(summary.AllNodesUp, "a node stayed down; logs in " + dir);
        Assert.Equal(0, summary.Duplicates);
        Assert.Equal(0, summary.Lost);
        Assert.Equal(summary.Accepted, summary.Stored);
        Assert.NotEmpty(summary.FailoverSeconds);
        // the hardware adapters kept streaming through their faults and the edges' deaths
        var adapters = summary.Adapters!;
        Assert.Equal(3 * ChaosCommand.AdapterDevices, adapters.Devices);
        Assert.True(adapters.Accepted > 0, "no adapter reading was accepted");
        Assert.True(adapters.Restarts > 0, $"no adapter was restarted by its supervisor: {adapters}");
    }
}
