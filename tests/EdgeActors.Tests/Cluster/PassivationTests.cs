using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Cluster;
using Akka.Hosting;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using EdgeActors.Actors;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Gateway;
using EdgeActors.Messages;
using EdgeActors.Nodes.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace EdgeActors.Tests.Cluster;

/// <summary>One node (seed + edge) composed as the executable composes it, with a short idle time.</summary>
public sealed class PassivationTests : IAsyncLifetime
{
    private IHost _host = null!;
    private ActorSystem _system = null!;
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "edgeactors-tests", $"passivation-{Guid.NewGuid():N}");

    public async Task InitializeAsync()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var (config, roles) = NodeConfig.Build(new NodeOptions
        {
            Roles = [Roles.Seed, Roles.Edge],
            Host = "127.0.0.1",
            Port = port,
            Seeds = [$"127.0.0.1:{port}"],
            DataDirectory = _dataDir, // a fresh one: never the working directory's .data/node-<port> of an earlier run
            Sets = ["akka.loglevel = WARNING", "edgeactors.sharding.passivate-idle-after = 1s", "edgeactors.mqtt.enabled = off"],
        }, new Dictionary<string, string?>());
        _host = NodeHost.Build(config, roles);
        await _host.StartAsync();
        _system = _host.Services.GetRequiredService<ActorSystem>();
        var cluster = Akka.Cluster.Cluster.Get(_system);
        for (var i = 0; i < 150 && cluster.SelfMember.Status != MemberStatus.Up; i++) await Task.Delay(200);
        Assert.Equal(MemberStatus.Up, cluster.SelfMember.Status);
    }

    public async Task DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
        try { Directory.Delete(_dataDir, recursive: true); } catch (IOException) { }
    }

    private static TelemetryBatch Batch(string id, long first) =>
        new(new DeviceId(id), 1, [first, first + 1], [10, 20], [1f, 2f]);

    private async Task<int> LiveDevices(TestProbe probe, IActorRef gateway)
    {
        gateway.Tell(GetClusterOverview.Instance, probe.Ref);
        var overview = await probe.ExpectMsgAsync<ClusterOverview>(TimeSpan.FromSeconds(10));
        Assert.True(overview.StatsComplete);
        return overview.Devices;
    }

    [Fact]
    public async Task Idle_device_should_passivate_and_a_busy_one_should_stay()
    {
        var registry = _host.Services.GetRequiredService<ActorRegistry>();
        var region = registry.Get<DeviceRegion>();
        var gateway = registry.Get<GatewayActor>();
        var probe = new TestProbe(_system, new XunitAssertions(), "client");

        region.Tell(Batch("idle-1", 1), probe.Ref);
        region.Tell(Batch("busy-1", 1), probe.Ref);
        Assert.Equal(2, (await probe.ExpectMsgAsync<IngestAck>()).Accepted);
        Assert.Equal(2, (await probe.ExpectMsgAsync<IngestAck>()).Accepted);
        Assert.Equal(2, await LiveDevices(probe, gateway));

        // keep busy-1 busy (a batch every 100 ms, well inside the 1 s idle time) until idle-1 has been passivated;
        // no wall-clock expectation: the shard checks for idle entities on its own schedule
        var seq = 3L;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        int live;
        do
        {
            region.Tell(Batch("busy-1", seq), probe.Ref);
            Assert.Equal(2, (await probe.ExpectMsgAsync<IngestAck>()).Accepted);
            seq += 2;
            await Task.Delay(100);
            live = await LiveDevices(probe, gateway);
        }
        while (live == 2 && DateTime.UtcNow < deadline);
        Assert.Equal(1, live);

        region.Tell(new GetDeviceState(new DeviceId("busy-1")), probe.Ref);
        Assert.Equal(seq - 1, (await probe.ExpectMsgAsync<DeviceState>()).AcceptedReadings); // never passivated: every reading kept
        region.Tell(Batch("idle-1", 3), probe.Ref);
        Assert.Equal(2, (await probe.ExpectMsgAsync<IngestAck>()).Accepted);
        region.Tell(new GetDeviceState(new DeviceId("idle-1")), probe.Ref);
        // re-created: it restored its count from the edge's outbox (no datacenter here: the 2 readings still wait there)
        Assert.Equal(4, (await probe.ExpectMsgAsync<DeviceState>()).AcceptedReadings);
    }
}
