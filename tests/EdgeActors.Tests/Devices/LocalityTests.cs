using EdgeActors.Client.Serialization;
using EdgeActors.Nodes.Hosting;
using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Configuration;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Devices;

/// <summary>Home sites: the message extractor, the allocation strategy, and a device entity restoring its state.</summary>
public sealed class LocalityTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    private static readonly Config TestConfig =
        ConfigurationFactory.ParseString("akka.actor.serialize-messages = on").WithFallback(EdgeSerialization.Config);

    public LocalityTests() : base(TestConfig)
    {
    }

    // ------------------------------------------------------------------ site names and the extractor

    [Theory]
    [InlineData("edge1/pump-7", "edge1")]
    [InlineData("plant.north_2/a/b", "plant.north_2")]
    [InlineData("pump-7", null)]
    [InlineData("/pump-7", null)]
    [InlineData("edge1/", null)]
    [InlineData("bad site/pump", null)]
    [InlineData("capteur-température/x", null)]
    public void HomeOfDevice_should_take_a_valid_site_prefix_only(string id, string? site) =>
        Assert.Equal(site, Sites.HomeOfDevice(id));

    [Fact]
    public void Extractor_should_map_homed_devices_to_their_sites_shards_and_others_to_hash_shards()
    {
        var extractor = new DeviceMessageExtractor(100, 4);
        var plain = new DeviceMessageExtractor(100);

        static string Shard(DeviceMessageExtractor e, string id) =>
            e.ShardId(e.EntityId(new GetDeviceState(new DeviceId(id)))!, new GetDeviceState(new DeviceId(id)));

        var homed = Enumerable.Range(0, 200).Select(i => Shard(extractor, $"edge1/pump-{i}")).ToList();
        Assert.All(homed, s => Assert.Equal("edge1", Sites.HomeOfShard(s)));
        Assert.Equal(new[] { "edge1:0", "edge1:1", "edge1:2", "edge1:3" }, homed.Distinct().Order().ToArray()); // spread over the site's 4 shards
        Assert.Equal(homed[7], Shard(extractor, "edge1/pump-7")); // stable

        // homeless devices keep today's hash shards (same as the extractor without sites)
        foreach (var id in new[] { "pump-7", "mp-sensor-001", "/x", "edge1/" })
        {
            var shard = Shard(extractor, id);
            Assert.Null(Sites.HomeOfShard(shard));
            Assert.InRange(int.Parse(shard), 0, 99);
            Assert.Equal(Shard(plain, id), shard);
        }
        Assert.Equal("edge1/pump-7", extractor.EntityId(new GetDeviceState(new DeviceId("edge1/pump-7"))));
    }

    [Fact]
    public void Node_config_should_publish_an_edges_site_as_a_role_and_name_the_key_of_a_bad_one()
    {
        var none = new Dictionary<string, string?>();

        var (edge, _) = EdgeActors.Nodes.Hosting.NodeConfig.Build(new EdgeActors.Nodes.Hosting.NodeOptions { Roles = ["edge"], Port = 0, Site = "plant-7" }, none);
        Assert.Equal(new[] { "edge", "gateway", "site:plant-7" }, edge.GetStringList("akka.cluster.roles").Order().ToArray());
        var (fromEnv, _) = EdgeActors.Nodes.Hosting.NodeConfig.Build(new EdgeActors.Nodes.Hosting.NodeOptions { Roles = ["edge"], Port = 0 },
            new Dictionary<string, string?> { ["EDGEACTORS_SITE"] = "edge9" });
        Assert.Contains("site:edge9", fromEnv.GetStringList("akka.cluster.roles"));
        var (datacenter, _) = EdgeActors.Nodes.Hosting.NodeConfig.Build(new EdgeActors.Nodes.Hosting.NodeOptions { Roles = ["datacenter"], Port = 0, Site = "plant-7" }, none);
        Assert.DoesNotContain(datacenter.GetStringList("akka.cluster.roles"), r => r.StartsWith(Sites.RolePrefix, StringComparison.Ordinal));

        var bad = Assert.Throws<EdgeActors.Nodes.CliException>(() =>
            EdgeActors.Nodes.Hosting.NodeConfig.Build(new EdgeActors.Nodes.Hosting.NodeOptions { Roles = ["edge"], Port = 0, Site = "plant 7" }, none));
        Assert.Contains("edgeactors.node.site", bad.Message);
    }

    [Fact]
    public void Locality_settings_should_bind_from_hocon_and_name_the_key_of_a_bad_value()
    {
        var s = LocalitySettings.FromConfig(ConfigurationFactory.ParseString("shards-per-site = 4, rebalance-limit = 2, restore = off, restore-timeout = 250ms"));
        Assert.Equal(new LocalitySettings(4, 2, false, TimeSpan.FromMilliseconds(250)), s);
        Assert.True(LocalitySettings.FromConfig(ConfigurationFactory.ParseString("shards-per-site = 4")).Restore);
        Assert.Contains("edgeactors.locality.shards-per-site",
            Assert.Throws<ArgumentException>(() => LocalitySettings.FromConfig(ConfigurationFactory.ParseString("shards-per-site = 0"))).Message);
        Assert.Contains("edgeactors.locality.restore-timeout",
            Assert.Throws<ArgumentException>(() => LocalitySettings.FromConfig(ConfigurationFactory.ParseString("restore-timeout = 0s"))).Message);
        Assert.Contains("edgeactors.locality.rebalance-limit",
            Assert.Throws<ArgumentException>(() => LocalitySettings.FromConfig(ConfigurationFactory.ParseString("rebalance-limit = 0"))).Message);
    }

    // ------------------------------------------------------------------ allocation strategy

    private sealed class Regions
    {
        public readonly Dictionary<IActorRef, string?> Sites = new();

        public HomeSiteAllocationStrategy Strategy(int limit = 10) => new(r => Sites.GetValueOrDefault(r), limit);
    }

    private static IImmutableDictionary<IActorRef, IImmutableList<string>> Allocations(params (IActorRef Region, string[] Shards)[] regions) =>
        regions.ToImmutableDictionary(r => r.Region, r => (IImmutableList<string>)r.Shards.ToImmutableList());

    private static string[] Homeless(int from, int n) => Enumerable.Range(from, n).Select(i => i.ToString()).ToArray();

    [Fact]
    public async Task Allocate_should_choose_the_home_region_when_it_is_registered()
    {
        var (edge1, edge2) = (CreateTestProbe().Ref, CreateTestProbe().Ref);
        var regions = new Regions { Sites = { [edge1] = "edge1", [edge2] = "edge2" } };
        var strategy = regions.Strategy();
        // edge1 is the busier region: a home shard still goes there, a homeless one to the least loaded
        var current = Allocations((edge1, Homeless(0, 5)), (edge2, []));

        Assert.Equal(edge1, await strategy.AllocateShard(edge2, "edge1:3", current));
        Assert.Equal(edge2, await strategy.AllocateShard(edge1, "edge2:0", current));
        Assert.Equal(edge2, await strategy.AllocateShard(edge1, "42", current));
    }

    [Fact]
    public async Task Allocate_should_choose_the_least_loaded_region_while_the_home_is_absent()
    {
        var (edge2, edge3) = (CreateTestProbe().Ref, CreateTestProbe().Ref);
        var regions = new Regions { Sites = { [edge2] = "edge2", [edge3] = null } };
        var strategy = regions.Strategy();

        Assert.Equal(edge3, await strategy.AllocateShard(edge2, "edge1:3", Allocations((edge2, Homeless(0, 3)), (edge3, Homeless(3, 1)))));
        Assert.Equal(edge2, await strategy.AllocateShard(edge3, "edge1:3", Allocations((edge2, []), (edge3, Homeless(3, 1)))));
    }

    [Fact]
    public async Task Rebalance_should_return_shards_away_from_home_only_while_the_home_region_is_present()
    {
        var (edge1, edge2) = (CreateTestProbe().Ref, CreateTestProbe().Ref);
        var regions = new Regions { Sites = { [edge2] = "edge2" } };
        var strategy = regions.Strategy();
        var edge1Shards = Enumerable.Range(0, 10).Select(i => $"edge1:{i}").ToArray();

        // edge1 down: its shards live on edge2 and stay there
        var without = Allocations((edge2, [.. edge1Shards, "edge2:0", "edge2:1"]));
        Assert.Empty(await strategy.Rebalance(without, ImmutableHashSet<string>.Empty));

        // edge1 back (registered, empty): all its shards go home at once (not limited), edge2's own stay
        regions.Sites[edge1] = "edge1";
        var back = Allocations((edge1, []), (edge2, [.. edge1Shards, "edge2:0", "edge2:1"]));
        var moved = await strategy.Rebalance(back, ImmutableHashSet<string>.Empty);
        Assert.Equal(edge1Shards.Order(), moved.Order());

        // a shard already being handed off is not returned again
        moved = await strategy.Rebalance(back, ImmutableHashSet.Create("edge1:0"));
        Assert.Equal(edge1Shards.Skip(1).Order(), moved.Order());

        // everything home: nothing to do, however unbalanced
        var home = Allocations((edge1, edge1Shards), (edge2, ["edge2:0"]));
        Assert.Empty(await strategy.Rebalance(home, ImmutableHashSet<string>.Empty));
    }

    [Fact]
    public async Task Rebalance_should_balance_only_movable_shards_within_the_limit()
    {
        var (edge1, edge2) = (CreateTestProbe().Ref, CreateTestProbe().Ref);
        var regions = new Regions { Sites = { [edge1] = "edge1", [edge2] = "edge2" } };

        // 30 homeless shards on edge1, none on edge2: at most the limit (3) move per round, only homeless ones
        var current = Allocations((edge1, [.. Homeless(0, 30), "edge1:0", "edge1:1"]), (edge2, []));
        var moved = await regions.Strategy(limit: 3).Rebalance(current, ImmutableHashSet<string>.Empty);
        Assert.Equal(3, moved.Count);
        Assert.All(moved, s => Assert.Null(Sites.HomeOfShard(s)));

        // without a limit in the way, half the difference moves
        moved = await regions.Strategy(limit: 100).Rebalance(current, ImmutableHashSet<string>.Empty);
        Assert.Equal(16, moved.Count);

        // home shards of a present home never move for balance
        var onlyHome = Allocations((edge1, Enumerable.Range(0, 10).Select(i => $"edge1:{i}").ToArray()), (edge2, []));
        Assert.Empty(await regions.Strategy().Rebalance(onlyHome, ImmutableHashSet<string>.Empty));

        // a difference of one is balanced enough; and nothing moves for balance while a rebalance is in progress
        Assert.Empty(await regions.Strategy().Rebalance(Allocations((edge1, Homeless(0, 3)), (edge2, Homeless(3, 2))), ImmutableHashSet<string>.Empty));
        Assert.Empty(await regions.Strategy().Rebalance(current, ImmutableHashSet.Create("99")));
    }

    [Fact]
    public async Task Rebalance_should_not_balance_towards_a_region_that_registered_within_the_warmup()
    {
        var (edge1, edge2) = (CreateTestProbe().Ref, CreateTestProbe().Ref);
        var regions = new Regions { Sites = { [edge1] = "edge1", [edge2] = "edge2" } };
        var now = new DateTime(2026, 12, 5, 0, 0, 0, DateTimeKind.Utc);
        var strategy = new HomeSiteAllocationStrategy(r => regions.Sites.GetValueOrDefault(r), 10, TimeSpan.FromSeconds(30), () => now);
        // edge2 holds everything, including the homeless shards that failed over from edge1; edge1 is back, empty
        Assert.Empty(await strategy.Rebalance(Allocations((edge2, Homeless(0, 20))), ImmutableHashSet<string>.Empty));
        now += TimeSpan.FromSeconds(60);
        var back = Allocations((edge1, []), (edge2, [.. Homeless(0, 20), "edge1:0"]));
        // its home shard goes home at once; no homeless shard moves while edge1 warms up
        Assert.Equal(["edge1:0"], await strategy.Rebalance(back, ImmutableHashSet<string>.Empty));
        var home = Allocations((edge1, ["edge1:0"]), (edge2, Homeless(0, 20)));
        now += TimeSpan.FromSeconds(29);
        Assert.Empty(await strategy.Rebalance(home, ImmutableHashSet<string>.Empty));
        // after the warm-up, balancing resumes
        now += TimeSpan.FromSeconds(2);
        Assert.Equal(9, (await strategy.Rebalance(home, ImmutableHashSet<string>.Empty)).Count);
    }

    [Fact]
    public async Task Rebalance_should_balance_home_shards_whose_home_is_absent_like_homeless_ones()
    {
        var (edge2, edge3) = (CreateTestProbe().Ref, CreateTestProbe().Ref);
        var regions = new Regions { Sites = { [edge2] = "edge2", [edge3] = "edge3" } };
        var orphans = Enumerable.Range(0, 10).Select(i => $"edge1:{i}").ToArray();

        var moved = await regions.Strategy().Rebalance(Allocations((edge2, orphans), (edge3, [])), ImmutableHashSet<string>.Empty);

        Assert.Equal(5, moved.Count);
        Assert.All(moved, s => Assert.Equal("edge1", Sites.HomeOfShard(s)));
    }

    // ------------------------------------------------------------------ restore

    [Fact]
    public void Restored_tracker_should_treat_stored_sequences_as_accepted_and_missing_ones_as_retryable()
    {
        var tracker = new SequenceTracker(64);

        tracker.Restore([10, 3, 4, 5, 8, 9, 10, -1]);

        Assert.Equal(10, tracker.Last);
        Assert.Equal(10, tracker.HighestContiguous); // the missing 6, 7 do not hold it back
        Assert.True(tracker.IsAccepted(4));
        Assert.True(tracker.IsAccepted(10));
        Assert.False(tracker.IsAccepted(6));
        Assert.True(tracker.IsRetryable(6));
        Assert.True(tracker.IsRetryable(7));
        Assert.False(tracker.IsRetryable(8));

        // only the window ending at the highest stored sequence is restored
        var small = new SequenceTracker(4);
        small.Restore(Enumerable.Range(1, 100).Select(i => (long)i).ToArray());
        Assert.Equal(100, small.Last);
        Assert.True(small.IsAccepted(97));
        Assert.False(small.InWindow(96));

        // a tracker that has seen anything is left alone
        var used = new SequenceTracker(64);
        used.Mark(1, accepted: true);
        used.Restore([50]);
        Assert.Equal(1, used.Last);
    }

    [Fact]
    public void Outbox_should_report_what_of_a_device_still_waits()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgeactors-tests", $"locality-store-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        static SyncRecord R(string device, long seq, RecordKind kind = RecordKind.Telemetry) =>
            new(new DeviceId(device), kind, seq, 1_700_000_000_000 + seq, SyncPriority.Routine,
                kind == RecordKind.Telemetry ? [1f, 2f] : [], kind == RecordKind.Frame ? new byte[784] : [], -1, null);
        SyncRecord[] records = [R("edge1/a", 1), R("edge1/a", 2), R("edge1/a", 5), R("edge1/a", 7), R("b", 3), R("edge1/a", 9, RecordKind.Frame)];
        try
        {
            using (var outbox = new EdgeActors.Storage.SqliteOutbox(new EdgeActors.Storage.OutboxSettings { Path = Path.Combine(dir, "outbox.db") }))
            {
                outbox.Append(records, 0);
                var waiting = outbox.Waiting(new DeviceId("edge1/a"), RecordKind.Telemetry, 2);
                Assert.Equal(4, waiting.Count);
                Assert.Equal(new long[] { 5, 7 }, waiting.Sequences);
                Assert.Empty(outbox.Waiting(new DeviceId("nobody"), RecordKind.Telemetry, 10).Sequences);
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static readonly DeviceId Id = new("edge1/sensor-7");

    private static TelemetryBatch Batch(long firstSeq, int count)
    {
        var seqs = Enumerable.Range(0, count).Select(i => firstSeq + i).ToArray();
        var values = seqs.SelectMany(s => new[] { 10f + s, 20f - s }).ToArray();
        return new TelemetryBatch(Id, 2, seqs, seqs.Select(s => 1_700_000_000_000 + s).ToArray(), values);
    }

    private IActorRef RestoringDevice(IActorRef store, TimeSpan timeout) =>
        Sys.ActorOf(DeviceActor.Props(Id, IngestionSettings.Default, new DeviceServices { Restore = DeviceRestore.To(store, timeout) }));

    private static KindHistory Stored(params long[] seqs) => new(seqs.Length, seqs);

    [Fact]
    public void Restored_device_should_answer_a_resent_stored_batch_Duplicate_and_continue_its_counts()
    {
        var store = CreateTestProbe();
        var device = RestoringDevice(store.Ref, TimeSpan.FromSeconds(30));

        device.Tell(Batch(11, 10), TestActor); // held until the stored state arrives
        var query = store.ExpectMsg<GetDeviceHistory>(Wait);
        Assert.Equal(Id, query.DeviceId);
        Assert.Equal(IngestionSettings.Default.SequenceWindow, query.MaxSequences);
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        store.Reply(new DeviceHistory(Id, Stored(Enumerable.Range(1, 20).Select(i => (long)i).ToArray()), KindHistory.Empty, "dc"));

        var resent = ExpectMsg<IngestAck>(Wait);
        Assert.Equal(0, resent.Accepted);
        Assert.Equal(10, resent.Rejected.Length);
        Assert.All(resent.Rejected, r => Assert.Equal(RejectReason.Duplicate, r.Reason));
        Assert.Equal(20, resent.HighestContiguous);

        device.Tell(Batch(21, 5), TestActor);
        var next = ExpectMsg<IngestAck>(Wait);
        Assert.Equal(5, next.Accepted);
        Assert.Equal(25, next.HighestContiguous);
        device.Tell(new GetDeviceState(Id), TestActor);
        var state = ExpectMsg<DeviceState>(Wait);
        Assert.Equal(25, state.AcceptedReadings);
        Assert.Equal(25, state.LastSequence);
    }

    [Fact]
    public void Restored_device_should_accept_a_resend_of_a_sequence_the_store_does_not_hold()
    {
        var store = CreateTestProbe();
        var device = RestoringDevice(store.Ref, TimeSpan.FromSeconds(30));
        store.ExpectMsg<GetDeviceHistory>(Wait);
        store.Reply(new DeviceHistory(Id, Stored(1, 2, 3, 4, 5, 8, 9, 10), KindHistory.Empty, "dc"));

        device.Tell(Batch(6, 3), TestActor); // 6, 7 were never stored (accepted on an edge that died before syncing); 8 was

        var ack = ExpectMsg<IngestAck>(Wait);
        Assert.Equal(2, ack.Accepted);
        Assert.Equal(8, Assert.Single(ack.Rejected).Sequence);
        Assert.Equal(RejectReason.Duplicate, ack.Rejected[0].Reason);
        Assert.Equal(10, ack.HighestContiguous);
    }

    [Fact]
    public void Restored_device_should_merge_the_store_with_what_still_waits_in_its_edges_outbox()
    {
        var store = CreateTestProbe();
        var outbox = CreateTestProbe();
        var device = Sys.ActorOf(DeviceActor.Props(Id, IngestionSettings.Default,
            new DeviceServices(Outbox: outbox.Ref) { Restore = DeviceRestore.To(store.Ref, TimeSpan.FromSeconds(30)) }));

        device.Tell(Batch(16, 10), TestActor); // 16..20 synced, 21..25 accepted here before (not synced yet)
        store.ExpectMsg<GetDeviceHistory>(Wait);
        var read = outbox.ExpectMsg<EdgeActors.Actors.Sync.ReadOutboxDevice>(Wait);
        Assert.Equal(Id, read.Device);
        store.Reply(new DeviceHistory(Id, Stored(Enumerable.Range(1, 20).Select(i => (long)i).ToArray()), KindHistory.Empty, "dc"));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // the outbox has not answered yet
        outbox.Reply(new EdgeActors.Actors.Sync.OutboxDeviceWaiting(Id, Stored(20, 21, 22, 23, 24, 25), KindHistory.Empty));

        var ack = ExpectMsg<IngestAck>(Wait);
        Assert.Equal(0, ack.Accepted);
        Assert.All(ack.Rejected, r => Assert.Equal(RejectReason.Duplicate, r.Reason));
        Assert.Equal(25, ack.HighestContiguous);
        device.Tell(new GetDeviceState(Id), TestActor);
        Assert.Equal(25, ExpectMsg<DeviceState>(Wait).AcceptedReadings); // 20 stored + 5 waiting (20 is in both: once)
    }

    [Fact]
    public void Device_should_start_without_stored_state_when_the_store_does_not_answer()
    {
        var store = CreateTestProbe();
        var device = RestoringDevice(store.Ref, TimeSpan.FromMilliseconds(200));

        device.Tell(Batch(1, 10), TestActor);
        store.ExpectMsg<GetDeviceHistory>(Wait); // and never answered

        var ack = ExpectMsg<IngestAck>(Wait);
        Assert.Equal(10, ack.Accepted);
        Assert.Equal(10, ack.HighestContiguous);
        device.Tell(new DeviceHistory(Id, Stored(1, 2, 3), KindHistory.Empty, "late"), TestActor); // too late: ignored
        device.Tell(Batch(11, 1), TestActor);
        Assert.Equal(1, ExpectMsg<IngestAck>(Wait).Accepted);
    }

    [Fact]
    public void Device_should_not_wait_for_a_store_when_none_is_reachable()
    {
        var device = Sys.ActorOf(DeviceActor.Props(Id, IngestionSettings.Default,
            new DeviceServices { Restore = new DeviceRestore((_, _) => false, TimeSpan.FromMinutes(10)) }));

        device.Tell(Batch(1, 10), TestActor);

        Assert.Equal(10, ExpectMsg<IngestAck>(Wait).Accepted); // long before the 10-minute timeout
    }

    [Fact]
    public void Device_should_start_without_stored_state_when_the_store_fails()
    {
        var store = CreateTestProbe();
        var device = RestoringDevice(store.Ref, TimeSpan.FromSeconds(30));
        store.ExpectMsg<GetDeviceHistory>(Wait);
        store.Reply(new DeviceHistory(Id, Stored(1, 2, 3), KindHistory.Empty, "dc", "database is locked"));

        device.Tell(Batch(1, 3), TestActor);

        Assert.Equal(3, ExpectMsg<IngestAck>(Wait).Accepted);
    }

    [Fact]
    public void Device_should_hold_commands_while_restoring_and_answer_them_in_order()
    {
        var store = CreateTestProbe();
        var device = RestoringDevice(store.Ref, TimeSpan.FromSeconds(30));
        device.Tell(Batch(1, 2), TestActor);
        device.Tell(new GetDeviceState(Id), TestActor);
        device.Tell(StopDevice.Instance);
        Watch(device);
        store.ExpectMsg<GetDeviceHistory>(Wait);
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        store.Reply(new DeviceHistory(Id, KindHistory.Empty, KindHistory.Empty, "dc"));

        Assert.Equal(2, ExpectMsg<IngestAck>(Wait).Accepted);
        Assert.Equal(2, ExpectMsg<DeviceState>(Wait).AcceptedReadings);
        ExpectTerminated(device, Wait);
    }
}
