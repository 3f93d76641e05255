using EdgeActors.Storage;
using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Akka.Configuration;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using Xunit.Abstractions;

namespace EdgeActors.Tests.Devices;

/// <summary>Measurements that read the whole process's managed heap: run alone, after the parallel tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryMeasurementCollection
{
    public const string Name = "memory measurement (not in parallel)";
}

/// <summary>
/// What an idle device entity costs: a one-node cluster in this process with the device shard region as an edge runs
/// it (default ingestion settings, a real SQLite outbox behind an OutboxWriter, bulk restore through a DeviceRestorer),
/// N devices each get one small telemetry batch (acknowledged durable), then the managed heap is compared with the one
/// before (both after a full blocking GC). Fails above 16 KB per device, the bound that fits 100,000 devices in 2 GB.
/// </summary>
[Collection(MemoryMeasurementCollection.Name)]
public sealed class DeviceMemoryTests : Akka.TestKit.Xunit2.TestKit
{
    private readonly ITestOutputHelper _output;

    public DeviceMemoryTests(ITestOutputHelper output) : base(Config, output: output)
    {
        _output = output;
    }

    private const int Devices = 5000;
    private const long BoundBytes = 16 * 1024;

    private static readonly Config Config = ConfigurationFactory.ParseString("""
        akka.loglevel = WARNING
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        akka.cluster.min-nr-of-members = 1
        akka.cluster.roles = [edge]
        """).WithFallback(EdgeSerialization.Config);

    [Fact]
    public async Task Idle_device_entity_should_cost_at_most_16_KB_at_default_settings()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgeactors-memory-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            var cluster = Akka.Cluster.Cluster.Get(Sys);
            cluster.Join(cluster.SelfAddress);
            AwaitCondition(() => cluster.SelfMember.Status == MemberStatus.Up, TimeSpan.FromSeconds(20));

            var outboxSettings = OutboxSettings.Default with { Path = Path.Combine(dir, "outbox.db") };
            var outbox = Sys.ActorOf(OutboxWriter.Props(new SqliteOutbox(outboxSettings), outboxSettings), "outbox-writer");
            var locality = LocalitySettings.Default with { Restore = true };
            var restorer = Sys.ActorOf(DeviceRestorer.Props(locality, outbox, (_, _) => 0), "device-restorer");
            var services = new DeviceServices(null, outbox, null) { Restorer = restorer, RestoreBackstop = locality.RestoreBackstop };
            var settings = IngestionSettings.Default;
            var region = await ClusterSharding.Get(Sys).StartAsync("device", id => DeviceActor.Props(new DeviceId(id), settings, services),
                ClusterShardingSettings.Create(Sys).WithRole("edge"), new DeviceMessageExtractor(100), new HomeSiteAllocationStrategy(_ => null, 10),
                StopDevice.Instance);

            // warm-up: the shards exist (100 hash shards), the outbox and the code paths are warm
            await SendAsync(region, Enumerable.Range(0, 500).Select(i => new DeviceId($"warm-{i:D4}")));
            var before = Heap();
            await SendAsync(region, Enumerable.Range(0, Devices).Select(i => new DeviceId($"idle-{i:D5}")));
            var after = Heap();

            var state = await region.Ask<DeviceState>(new GetDeviceState(new DeviceId("idle-00042")), TimeSpan.FromSeconds(10));
            Assert.Equal(4, state.AcceptedReadings);
            Assert.Equal(RestoreOutcome.Restored, state.Restore);
            Assert.Equal(settings.BufferCapacity, state.BufferCapacity); // the status still reports the configured capacity
            var perDevice = (after - before) / (double)Devices;
            _output.WriteLine($"managed heap {before / 1048576.0:0.0} MiB -> {after / 1048576.0:0.0} MiB for {Devices} devices: {perDevice:0} bytes per device (bound {BoundBytes})");
            Assert.True(perDevice <= BoundBytes, $"an idle device entity costs {perDevice:0} bytes of managed heap; the bound is {BoundBytes}");
        }
        finally
        {
            await Sys.Terminate();
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // best effort
            }
        }
    }

    private static long Heap()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    /// <summary>One 4-reading, 4-channel batch to each device, 500 in flight; every one must be accepted.</summary>
    private static async Task SendAsync(IActorRef region, IEnumerable<DeviceId> ids)
    {
        using var gate = new SemaphoreSlim(500);
        var tasks = ids.Select(async id =>
        {
            await gate.WaitAsync();
            try
            {
                var ack = await region.Ask<IngestAck>(new TelemetryBatch(id, 4, [1, 2, 3, 4], [1, 2, 3, 4],
                    [1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6, 4, 5, 6, 7]), TimeSpan.FromSeconds(30));
                Assert.Equal(4, ack.Accepted);
            }
            finally
            {
                gate.Release();
            }
        }).ToList();
        await Task.WhenAll(tasks);
    }
}
