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

/// <summary>
/// One node (seed + edge) composed as the executable composes it, with a short idle time. A real cluster runs on the real
/// scheduler, so time cannot be virtual here: the busy device is kept busy from a thread of its own, with gaps a small
/// fraction of the idle time whatever the rest of the test waits for, and the idle device is awaited with a generous deadline.
/// </summary>
public sealed class PassivationTests : IAsyncLifetime
{
    private static readonly TimeSpan IdleAfter = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan BusyEvery = TimeSpan.FromMilliseconds(100);
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
            Sets = ["akka.loglevel = WARNING", $"edgeactors.sharding.passivate-idle-after = {(long)IdleAfter.TotalMilliseconds}ms", "edgeactors.http.enabled = off", "edgeactors.mqtt.enabled = off"],
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

        // keep busy-1 busy (a batch every 100 ms, a thirtieth of the idle time) from a thread of its own, so no wait of the
        // test thread below stretches its gaps, until idle-1 has been passivated (the shard checks on its own schedule)
        var keeper = new TestProbe(_system, new XunitAssertions(), "keeper");
        var sent = 0;
        using var stop = new CancellationTokenSource();
        var keepBusy = new Thread(() =>
        {
            for (var seq = 3L; !stop.IsCancellationRequested; seq += 2)
            {
                region.Tell(Batch("busy-1", seq), keeper.Ref);
                sent++;
                stop.Token.WaitHandle.WaitOne(BusyEvery);
            }
        }) { IsBackground = true, Name = "keep-busy-1" };
        keepBusy.Start();
        var deadline = DateTime.UtcNow + IdleAfter * 2 + TimeSpan.FromSeconds(20);
        int live;
        try
        {
            do
            {
                await Task.Delay(200);
                live = await LiveDevices(probe, gateway);
            }
            while (live == 2 && DateTime.UtcNow < deadline);
        }
        finally
        {
            stop.Cancel();
            keepBusy.Join();
        }
        Assert.Equal(1, live);
        foreach (var ack in keeper.ReceiveN(sent, TimeSpan.FromSeconds(30))) Assert.Equal(2, Assert.IsType<IngestAck>(ack).Accepted);

        region.Tell(new GetDeviceState(new DeviceId("busy-1")), probe.Ref);
        Assert.Equal(2 + 2L * sent, (await probe.ExpectMsgAsync<DeviceState>()).AcceptedReadings); // never passivated: every reading kept
        region.Tell(Batch("idle-1", 3), probe.Ref);
        Assert.Equal(2, (await probe.ExpectMsgAsync<IngestAck>()).Accepted);
        region.Tell(new GetDeviceState(new DeviceId("idle-1")), probe.Ref);
        // re-created: it restored its count from the edge's outbox (no datacenter here: the 2 readings still wait there)
        Assert.Equal(4, (await probe.ExpectMsgAsync<DeviceState>()).AcceptedReadings);
    }
}
