using System.Text.Json;
using EdgeActors.Client;
using EdgeActors.Client.Security;
using EdgeActors.Messages;
using EdgeActors.Mqtt;
using EdgeActors.Nodes.Hosting;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// Twins and commands across real processes (seed, datacenter, edge1, edge2; each edge's site is its node name): an app
/// sets a desired value and sends a command to a device homed on edge1 while the device is offline, edge1 is SIGKILLed,
/// and the device's entity, started again on edge2, still has the desired value and the pending command (loaded from
/// the datacenter's twin store). The client never knows edge1. Then the same through the CLI and a device that is not
/// .NET: Debian's mosquitto_sub, connecting to edge2's MQTT broker after the kill, receives the delta and the command.
/// </summary>
public sealed class TwinFailoverTests(ITestOutputHelper output) : IAsyncLifetime
{
    private LocalCluster _cluster = null!;
    private EdgeClient _client = null!;
    private int[] _ports = [];
    private string _dir = "";

    public async Task InitializeAsync()
    {
        _ports = Ports.Free(5);
        _dir = TestCluster.FreshDirectory("twins", _ports[0]);
        _cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", _ports[0]),
            new NodeSpec("datacenter", "datacenter", _ports[1]),
            new NodeSpec("edge1", "edge", _ports[2]),
            new NodeSpec("edge2", "edge", _ports[3]) { MqttPort = _ports[4] },
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

    [Fact]
    public async Task A_desired_value_set_with_the_cli_should_reach_an_offline_mqtt_device_on_another_edge_after_its_edge_was_SIGKILLed()
    {
        const string device = "edge1/twin-mqtt-01";
        string[] credentials = ["--contacts", _cluster.Specs[3].HostPort, "--certs", _cluster.CertsDirectory];
        // the device is offline (it never connected); an operator sets a desired value and sends a command with the CLI
        var set = await Cli(["twin", "set", device, "sampling-rate=25", .. credentials]);
        Assert.True(set.Exit == 0, $"twin set failed ({set.Exit}): {set.Out} {set.Err}");
        var send = await Cli(["command", "send", device, "recalibrate", "full", "--id", "cmd-mqtt-1", "--ttl", "30m", .. credentials]);
        Assert.True(send.Exit == 0, $"command send failed ({send.Exit}): {send.Out} {send.Err}");
        Assert.Equal(_cluster.AddressOf(_ports[2]), (await _client.GetDeviceStateAsync(new DeviceId(device))).Node); // homed on edge1

        _cluster["edge1"].KillHard();
        output.WriteLine("edge1 SIGKILLed");
        // the device's entity moves to edge2 (once edge1 is downed)
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while ((await _client.GetDeviceStateAsync(new DeviceId(device))).Node != _cluster.AddressOf(_ports[3]))
        {
            Assert.True(DateTime.UtcNow < deadline, "the device's entity did not start on edge2");
            await Task.Delay(500);
        }

        // the device comes online at edge2's broker (TLS, a token for its own topics only) and follows its twin
        var key = ClientTokens.LoadKey(Path.Combine(_cluster.CertsDirectory, Certificates.TokenKeyFile));
        var token = ClientTokens.Issue(key, new ClientClaims("twin-mqtt-01", [ClientTokens.Ingest], device, DateTimeOffset.UtcNow.AddHours(1)));
        var sub = await ExternalProcess.RunAsync("/usr/bin/mosquitto_sub",
        [
            "-h", "127.0.0.1", "-p", _ports[4].ToString(), "--cafile", Path.Combine(_cluster.CertsDirectory, Certificates.CaCertificateFile),
            "-i", device, "-u", "twin-mqtt-01", "-P", token, "-V", "mqttv311", "-q", "1",
            "-t", MqttTopics.TwinDelta(device), "-t", MqttTopics.Commands(device), "-C", "2", "-W", "60",
        ], TimeSpan.FromSeconds(90));
        output.WriteLine($"mosquitto_sub exit {sub.Exit}:\n{sub.Out}\n{sub.Err}");
        Assert.True(sub.Exit == 0, $"mosquitto_sub did not get the delta and the command: exit {sub.Exit}, {sub.Out} {sub.Err}");
        var messages = sub.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        var delta = messages.Single(m => m.TryGetProperty("delta", out _));
        Assert.Equal("25", delta.GetProperty("delta").GetProperty("sampling-rate").GetString());
        var command = messages.Single(m => m.TryGetProperty("name", out _));
        Assert.Equal(("cmd-mqtt-1", "recalibrate", "full"),
            (command.GetProperty("id").GetString(), command.GetProperty("name").GetString(), command.GetProperty("payload").GetString()));
        var status = Assert.Single(await _client.GetCommandsAsync(new DeviceId(device)));
        Assert.Equal(CommandState.Delivered, status.State);
    }

    private Task<ProcessResult> Cli(string[] args)
    {
        var (file, prefix) = NodeProcess.SelfCommand();
        return ExternalProcess.RunAsync(file, [.. prefix, .. args], TimeSpan.FromSeconds(90));
    }
}
