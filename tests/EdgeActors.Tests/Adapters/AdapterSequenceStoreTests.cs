using EdgeActors.Client.Serialization;
using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using EdgeActors.Actors.Adapters;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Storage;

namespace EdgeActors.Tests.Adapters;

/// <summary>
/// The uplink's durable sequence counter (<see cref="ISequenceStore"/>): an edge killed and restarted whose device entity
/// restores a lower last sequence (readings still in the killed edge's outbox) must number after what it persisted, never
/// reusing a number; the counter is written before the readings carrying its numbers are sent; a failing write holds the
/// readings with their numbers instead of losing or renumbering them. A probe stands in for the device region and
/// forwards to a real device entity, so the test sees every batch the uplink sends.
/// </summary>
public sealed class AdapterSequenceStoreTests() : Akka.TestKit.Xunit2.TestKit(
    ConfigurationFactory.ParseString("akka.actor.serialize-messages = on").WithFallback(EdgeSerialization.Config))
{
    private static readonly DeviceId Id = new("hw-test-sensor-00");
    private readonly string _dir = Directory.CreateTempSubdirectory("edgeactors-adapters-").FullName;

    private string StatePath => Path.Combine(_dir, "adapters.db");

    private static AdapterSettings Settings(long maxReadings) => AdapterTestSettings.For(Id, maxReadings);

    private static SimulatedSensor Sensor(AdapterSettings settings) => new(settings.Channels, settings.Faults, 42);

    private IActorRef Entity() => Sys.ActorOf(DeviceActor.Props(Id, IngestionSettings.Default));

    private TestProbe Region()
    {
        var region = CreateTestProbe();
        region.IgnoreMessages(m => m is SensorHealth);
        return region;
    }

    /// <summary>Answers the uplink's start-up query from <paramref name="entity"/>; returns the uplink.</summary>
    private static IActorRef Attach(TestProbe region, IActorRef entity)
    {
        var ask = region.ExpectMsg<GetDeviceState>(TimeSpan.FromSeconds(10));
        var uplink = region.LastSender;
        entity.Tell(ask, uplink);
        return uplink;
    }

    /// <summary>Forwards every batch to the entity (acks to the uplink) until sequence <paramref name="last"/> was sent;
    /// returns the sequences sent, in order, and checks each batch was persisted before it was sent.</summary>
    private static List<long> Relay(TestProbe region, IActorRef entity, IActorRef uplink, long last, ISequenceStore? check = null)
    {
        var sent = new List<long>();
        while (sent.Count == 0 || sent[^1] < last)
        {
            var b = region.ExpectMsg<TelemetryBatch>(TimeSpan.FromSeconds(10));
            if (check is not null)
                Assert.True(check.Load(Id.Value) >= b.Sequences[^1], $"batch ..{b.Sequences[^1]} sent before it was persisted ({check.Load(Id.Value)})");
            if (sent.Count == 0 || b.Sequences[0] > sent[^1]) sent.AddRange(b.Sequences); // not a resend
            entity.Tell(b, uplink);
        }
        return sent;
    }

    private static void AssertNumberedOnce(IReadOnlyList<long> sent, long first, long last) =>
        Assert.Equal(Enumerable.Range((int)first, (int)(last - first + 1)).Select(i => (long)i), sent);

    [Fact]
    public void Fresh_uplink_over_the_same_state_file_should_number_after_the_persisted_sequence_when_its_entity_reports_a_lower_one()
    {
        var settings = Settings(maxReadings: 12) with { StatePath = StatePath };
        using (var store = new SqliteSequenceStore(StatePath))
        using (var reader = new SqliteSequenceStore(StatePath))
        {
            var region = Region();
            var entity = Entity();
            var first = Sys.ActorOf(SensorUplink.Props(Id, Sensor(settings), settings, region.Ref, store));
            var uplink = Attach(region, entity);
            AssertNumberedOnce(Relay(region, entity, uplink, 12, check: reader), 1, 12);
            Watch(first);
            Sys.Stop(first); // as if killed: nothing but the state file outlives it
            ExpectTerminated(first);
        }

        // the edge restarts; the device entity was re-created from a store that has none of readings 1..12
        using var reopened = new SqliteSequenceStore(StatePath);
        var region2 = Region();
        var entity2 = Entity();
        Sys.ActorOf(SensorUplink.Props(Id, Sensor(settings), settings, region2.Ref, reopened));
        var uplink2 = Attach(region2, entity2);
        var sent = Relay(region2, entity2, uplink2, 24);

        AssertNumberedOnce(sent, 13, 24); // never 1..12 again
        Assert.Equal(24, reopened.Load(Id.Value));
    }

    [Fact]
    public void Adapter_host_should_keep_the_numbering_in_its_state_file_across_host_instances()
    {
        var settings = Settings(maxReadings: 10) with { StatePath = StatePath };

        var region = Region();
        var entity = Entity();
        var host = Sys.ActorOf(AdapterHost.Props(settings, region.Ref, (_, _) => Sensor(settings)));
        var uplink = Attach(region, entity);
        AssertNumberedOnce(Relay(region, entity, uplink, 10), 1, 10);
        Watch(host);
        Sys.Stop(host); // closes the state file
        ExpectTerminated(host);

        // a new host over the same file; the entity (restored elsewhere) knows only readings 1..4
        var region2 = Region();
        var entity2 = Entity();
        entity2.Tell(new TelemetryBatch(Id, 2, [1, 2, 3, 4], [1_700_000_000_001, 1_700_000_000_002, 1_700_000_000_003, 1_700_000_000_004], new float[8]), TestActor);
        Assert.Equal(4, ExpectMsg<IngestAck>().Accepted);
        var host2 = Sys.ActorOf(AdapterHost.Props(settings, region2.Ref, (_, _) => Sensor(settings)));
        var uplink2 = Attach(region2, entity2);
        AssertNumberedOnce(Relay(region2, entity2, uplink2, 20), 11, 20);
        Watch(host2);
        Sys.Stop(host2);
        ExpectTerminated(host2);

        using var check = new SqliteSequenceStore(StatePath);
        Assert.Equal(20, check.Load(Id.Value));
    }

    [Fact]
    public void Failing_state_write_should_hold_the_readings_and_send_them_with_their_numbers_once_it_succeeds()
    {
        var settings = Settings(maxReadings: 10);
        var store = new FlakyStore { Persisted = 7, FailLoads = 1, FailSaves = true };
        var region = Region();
        var entity = Entity(); // knows nothing of this device: numbering comes from the store
        Sys.ActorOf(SensorUplink.Props(Id, Sensor(settings), settings, region.Ref, store));
        var uplink = Attach(region, entity);

        // writes fail (and are retried): nothing may go out with numbers that are not persisted
        AwaitCondition(() => store.FailedSaves >= 2, TimeSpan.FromSeconds(20));
        Assert.False(region.HasMessages, "a batch was sent although its sequence could not be persisted");
        Assert.Equal(7, store.Load(Id.Value));

        store.FailSaves = false;
        var sent = Relay(region, entity, uplink, 17, check: store);

        AssertNumberedOnce(sent, 8, 17); // after the persisted 7, no gap, no reading lost or renumbered
        var s = AwaitState(entity, s => s.HighestContiguous == 17);
        Assert.Equal(10, s.AcceptedReadings);
        Assert.Empty(s.Rejections);
        Assert.Equal(17, store.Load(Id.Value));
        Assert.Equal(1, store.FailedLoads); // failed once, then retried
    }

    [Fact]
    public void Base_conf_should_name_an_adapters_state_file_under_the_data_dir()
    {
        var baseConf = ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "hocon", "base.conf")));

        var s = AdapterSettings.FromConfig(baseConf.GetConfig(AdapterSettings.ConfigPath), "hw-4055-");

        Assert.Equal("adapters.db", s.StatePath);
        Assert.Equal("", AdapterSettings.FromConfig(ConfigurationFactory.ParseString("edgeactors.adapters.state-path = \"\"")
            .GetConfig(AdapterSettings.ConfigPath)).StatePath);
    }

    private DeviceState AwaitState(IActorRef entity, Func<DeviceState, bool> done)
    {
        DeviceState? last = null;
        AwaitCondition(() =>
        {
            entity.Tell(new GetDeviceState(Id), TestActor);
            last = ExpectMsg<DeviceState>(TimeSpan.FromSeconds(5));
            return done(last);
        }, TimeSpan.FromSeconds(20));
        return last!;
    }

    private sealed class FlakyStore : ISequenceStore
    {
        private readonly ConcurrentDictionary<string, long> _values = new();
        private int _failedSaves;
        private int _failedLoads;

        public long Persisted { init => _values[Id.Value] = value; }
        public int FailLoads { get; set; }
        public volatile bool FailSaves;
        public int FailedSaves => Volatile.Read(ref _failedSaves);
        public int FailedLoads => Volatile.Read(ref _failedLoads);

        public long Load(string device)
        {
            if (Interlocked.Increment(ref _failedLoads) <= FailLoads) throw new IOException("disk not ready");
            Interlocked.Decrement(ref _failedLoads);
            return _values.GetValueOrDefault(device);
        }

        public void Save(string device, long lastSequence)
        {
            if (FailSaves)
            {
                Interlocked.Increment(ref _failedSaves);
                throw new IOException("disk full");
            }
            _values.AddOrUpdate(device, lastSequence, (_, v) => Math.Max(v, lastSequence));
        }

        public void Dispose() { }
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        }
    }
}
