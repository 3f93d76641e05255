using EdgeActors.Client;
using EdgeActors.Messages;
using EdgeActors.Nodes.Hosting;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// Twins and commands across real processes (seed, datacenter, edge1, edge2; each edge's site is its node name): an app
/// sets a desired value and sends a command to a device homed on edge1 while the device is offline, edge1 is SIGKILLed,
/// and the device's entity, started again on edge2, still has the desired value and the pending command (loaded from
/// the datacenter's twin store). The client never knows edge1.
/// </summary>
public sealed class TwinFailoverTests(ITestOutputHelper output) : IAsyncLifetime
{
    private LocalCluster _cluster = null!;
    private EdgeClient _client = null!;
    private int[] _ports = [];
    private string _dir = "";

    public async Task InitializeAsync()
    {
        _ports = Ports.Free(4);
        _dir = TestCluster.FreshDirectory("twins", _ports[0]);
        _cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", _ports[0]),
            new NodeSpec("datacenter", "datacenter", _ports[1]),
            new NodeSpec("edge1", "edge", _ports[2]),
            new NodeSpec("edge2", "edge", _ports[3]),
        ], _dir);
        _cluster.StartAll();
        _client = EdgeClient.Connect(TestCluster.ClientOptions(_cluster, _ports[3], _ports[1]) with
        {
            RequestTimeout = TimeSpan.FromSeconds(3),
            RetryDeadline = TimeSpan.FromSeconds(90),
            MaxBackoff = TimeSpan.FromMilliseconds(500),
        });
        Assert.True(await ClusterProbe.WaitForMembersAsync(_client, _cluster, 4, TimeSpan.FromSeconds(60)) is not null, "cluster did not form; logs in " + _dir);
    }

    public Task DisposeAsync() => TestCluster.StopAsync(_client, _cluster, output);

    [Fact]
    public async Task Desired_value_and_pending_command_should_survive_a_SIGKILL_of_the_devices_edge()
    {
        var device = new DeviceId("edge1/twin-sensor-01");

        var twin = await _client.SetDesiredAsync(device, [new TwinValue("sampling-rate", "10"), new TwinValue("mode", "éco")]);
        Assert.Equal(1, twin.DesiredVersion);
        var sent = await _client.SendCommandAsync(device, "recalibrate", "{\"channel\":2}", TimeSpan.FromMinutes(30), "cmd-1");
        Assert.Equal(CommandState.Pending, sent.State);
        var before = await _client.GetDeviceStateAsync(device);
        Assert.Equal(_cluster.AddressOf(_ports[2]), before.Node); // the entity lives on its home edge
        output.WriteLine($"desired set and command sent; device on {before.Node}");

        _cluster["edge1"].KillHard();
        output.WriteLine("edge1 SIGKILLed");

        // the entity starts again on edge2 (after edge1 is downed) and loads the twin from the datacenter's twin store
        var after = await _client.GetTwinAsync(device);
        var state = await _client.GetDeviceStateAsync(device);
        Assert.Equal(_cluster.AddressOf(_ports[3]), state.Node);
        Assert.Equal(1, after.DesiredVersion);
        Assert.Equal(["mode=éco", "sampling-rate=10"], after.Desired.Select(p => $"{p.Name}={p.Value}").Order(StringComparer.Ordinal));
        var command = Assert.Single(await _client.GetCommandsAsync(device));
        Assert.Equal(("cmd-1", "recalibrate", CommandState.Pending, sent.ExpiresAt), (command.CommandId, command.Name, command.State, command.ExpiresAt));

        // a resend of the command after the failover is the same command, not a second one
        var again = await _client.SendCommandAsync(device, "recalibrate", "{\"channel\":2}", TimeSpan.FromMinutes(30), "cmd-1");
        Assert.Equal(sent.CreatedAt, again.CreatedAt);
        Assert.Single(await _client.GetCommandsAsync(device));
        output.WriteLine($"after the kill: twin v{after.DesiredVersion} and command {command.CommandId} [{command.State}] on {state.Node}");
    }
}
