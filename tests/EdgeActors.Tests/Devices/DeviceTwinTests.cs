using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Actors.Twins;
using EdgeActors.Client.Serialization;
using EdgeActors.Messages;
using EdgeActors.Storage;

namespace EdgeActors.Tests.Devices;

/// <summary>
/// Twins and commands of the device entity, with the twin store as a probe (the test decides what is stored) or as the
/// real store actor over a temp SQLite file. Time is the TestScheduler's: command expiry never waits for the wall clock.
/// Every message goes through the EdgeSerializer.
/// </summary>
public sealed class DeviceTwinTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly DeviceId Id = new("edge-1/sensor-ü-7");
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    private static readonly Config TestConfig = ConfigurationFactory.ParseString("""
            akka.actor.serialize-messages = on
            akka.scheduler.implementation = "Akka.TestKit.TestScheduler, Akka.TestKit"
            """).WithFallback(EdgeSerialization.Config);

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgeactors-twin-entity-" + Guid.NewGuid().ToString("N"));

    public DeviceTwinTests() : base(TestConfig)
    {
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    private static readonly TwinSettings Settings = TwinSettings.Default with { MaxProperties = 4, MaxValueLength = 16 };

    private IActorRef Device(IActorRef store) =>
        Sys.ActorOf(DeviceActor.Props(Id, IngestionSettings.Default, new DeviceServices { Twins = new TwinServices(store, Settings) }));

    private IActorRef RealStore() =>
        Sys.ActorOf(TwinStoreActor.Props(Settings, () => new SqliteTwinStore(Path.Combine(_dir, "twins.db"))));

    /// <summary>The probe store answers the entity's load with <paramref name="twin"/> (empty by default).</summary>
    private static void AnswerLoad(TestProbe store, DeviceTwin? twin = null, params CommandStatus[] commands)
    {
        var load = store.ExpectMsg<LoadTwin>(Wait);
        Assert.Equal(Id, load.DeviceId);
        store.Reply(new TwinStored(Id, 0, twin ?? DeviceTwin.Empty(Id), commands, ""));
    }

    private static SaveTwin StoreSave(TestProbe store, string error = "")
    {
        var save = store.ExpectMsg<SaveTwin>(Wait);
        store.Reply(new TwinStored(Id, save.Token, error.Length > 0 ? null : save.Twin, [], error));
        return save;
    }

    private T Ask<T>(IActorRef device, object message)
    {
        device.Tell(message, TestActor);
        return ExpectMsg<T>(Wait);
    }

    private static SetDesired Desired(params (string Name, string Value)[] values) =>
        new(Id, values.Select(v => new TwinValue(v.Name, v.Value)).ToArray());

    [Fact]
    public void A_desired_value_set_while_no_device_is_attached_should_be_delivered_on_attach()
    {
        var device = Device(RealStore());

        var set = Ask<TwinResult>(device, Desired(("sampling-rate", "10")));
        Assert.Equal("", set.Error);
        Assert.Equal(1, set.Twin!.DesiredVersion);

        var connection = CreateTestProbe();
        device.Tell(new AttachDevice(Id, connection.Ref.Path.ToString(), IsDevice: true));

        var twin = connection.ExpectMsg<DeviceTwin>(Wait);
        var p = Assert.Single(twin.Desired);
        Assert.Equal(("sampling-rate", "10", 1L), (p.Name, p.Value, p.Version));
        Assert.Equal("sampling-rate", Assert.Single(twin.Delta()).Name); // the device never reported it
    }

    [Fact]
    public void A_new_incarnation_of_the_entity_should_load_the_stored_twin_and_commands()
    {
        var store = RealStore();
        var first = Device(store);
        Ask<TwinResult>(first, Desired(("mode", "eco")));
        Ask<CommandStatus>(first, new SendCommand(Id, "c-1", "recalibrate", "2", 0));
        Watch(first);
        Sys.Stop(first);
        ExpectTerminated(first);

        var second = Device(store); // as after a hand-off to another edge

        var twin = Ask<TwinResult>(second, new GetTwin(Id)).Twin!;
        Assert.Equal("eco", Assert.Single(twin.Desired).Value);
        var command = Assert.Single(Ask<DeviceCommands>(second, new GetCommands(Id)).Commands);
        Assert.Equal(("c-1", CommandState.Pending), (command.CommandId, command.State));
    }

    [Fact]
    public void A_command_should_go_from_pending_to_delivered_to_acknowledged()
    {
        var device = Device(RealStore());
        var sent = Ask<CommandStatus>(device, new SendCommand(Id, "", "recalibrate", "{\"channel\":2}", 0));
        Assert.Equal(CommandState.Pending, sent.State);
        Assert.NotEqual("", sent.CommandId); // assigned by the entity
        Assert.Equal(sent.CreatedAt + (long)TwinSettings.Default.DefaultCommandTtl.TotalMilliseconds, sent.ExpiresAt);

        var connection = CreateTestProbe();
        device.Tell(new AttachDevice(Id, connection.Ref.Path.ToString(), IsDevice: true));
        connection.ExpectMsg<DeviceTwin>(Wait);
        var delivered = connection.ExpectMsg<CommandStatus>(Wait);
        Assert.Equal((sent.CommandId, CommandState.Delivered), (delivered.CommandId, delivered.State));
        Assert.Equal(CommandState.Delivered, Assert.Single(Ask<DeviceCommands>(device, new GetCommands(Id)).Commands).State);

        var acked = Ask<CommandStatus>(device, new AcknowledgeCommand(Id, sent.CommandId, true, "done"));

        Assert.Equal((CommandState.Acknowledged, "done", ""), (acked.State, acked.Result, acked.Error));
        Assert.Equal(CommandState.Acknowledged, Assert.Single(Ask<DeviceCommands>(device, new GetCommands(Id)).Commands).State);
    }

    [Fact]
    public void A_new_command_should_go_at_once_to_an_attached_device_connection_and_followers()
    {
        var store = CreateTestProbe();
        var device = Device(store.Ref);
        var connection = CreateTestProbe();
        var follower = CreateTestProbe();
        device.Tell(new AttachDevice(Id, connection.Ref.Path.ToString(), IsDevice: true));
        AnswerLoad(store);
        device.Tell(new AttachDevice(Id, follower.Ref.Path.ToString(), IsDevice: false));
        connection.ExpectMsg<DeviceTwin>(Wait);
        follower.ExpectMsg<DeviceTwin>(Wait);

        device.Tell(new SendCommand(Id, "c-9", "reboot", "", 0), TestActor);
        var save = StoreSave(store);

        Assert.Equal(CommandState.Delivered, Assert.Single(save.Commands).State); // stored as delivered before it is sent
        Assert.Equal(CommandState.Delivered, ExpectMsg<CommandStatus>(Wait).State);
        Assert.Equal("c-9", connection.ExpectMsg<CommandStatus>(Wait).CommandId);
        Assert.Equal("c-9", follower.ExpectMsg<CommandStatus>(Wait).CommandId);
    }

    [Fact]
    public void A_command_should_expire_when_its_time_to_live_passes_unacknowledged()
    {
        var store = CreateTestProbe();
        var device = Device(store.Ref);
        device.Tell(new SendCommand(Id, "c-1", "recalibrate", "", 60_000), TestActor);
        AnswerLoad(store);
        StoreSave(store);
        Assert.Equal(CommandState.Pending, ExpectMsg<CommandStatus>(Wait).State);

        Clock.Advance(TimeSpan.FromSeconds(59));
        store.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Clock.Advance(TimeSpan.FromSeconds(1));

        var expiry = StoreSave(store);
        Assert.Equal(CommandState.Expired, Assert.Single(expiry.Commands).State);
        Assert.Equal(CommandState.Expired, Assert.Single(Ask<DeviceCommands>(device, new GetCommands(Id)).Commands).State);
        var late = Ask<CommandStatus>(device, new AcknowledgeCommand(Id, "c-1", true, "done"));
        Assert.Contains("expired", late.Error);
        Assert.Equal(CommandState.Expired, late.State);
    }

    [Fact]
    public void A_loaded_command_should_expire_at_its_stored_expiry()
    {
        var store = CreateTestProbe();
        var device = Device(store.Ref);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var stored = new CommandStatus(Id, "old", "reboot", "", CommandState.Delivered, now - 10_000, now - 1, now - 5_000, "");
        device.Tell(new GetCommands(Id), TestActor);
        AnswerLoad(store, null, stored);
        Assert.Equal(CommandState.Delivered, Assert.Single(ExpectMsg<DeviceCommands>(Wait).Commands).State);

        Clock.Advance(TimeSpan.FromMilliseconds(1));

        Assert.Equal(CommandState.Expired, Assert.Single(StoreSave(store).Commands).State);
    }

    [Fact]
    public void A_resend_with_the_same_command_id_should_return_the_existing_command_and_store_nothing()
    {
        var store = CreateTestProbe();
        var device = Device(store.Ref);
        device.Tell(new SendCommand(Id, "c-1", "recalibrate", "2", 0), TestActor);
        AnswerLoad(store);
        StoreSave(store);
        var first = ExpectMsg<CommandStatus>(Wait);

        var again = Ask<CommandStatus>(device, new SendCommand(Id, "c-1", "recalibrate", "2", 0));

        Assert.Equal(first, again);
        store.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.Single(Ask<DeviceCommands>(device, new GetCommands(Id)).Commands);
    }

    [Fact]
    public void A_change_the_store_did_not_store_should_not_be_applied()
    {
        var store = CreateTestProbe();
        var device = Device(store.Ref);
        device.Tell(Desired(("mode", "eco")), TestActor);
        AnswerLoad(store);
        StoreSave(store, error: "SQLite error 13: database or disk is full");

        var result = ExpectMsg<TwinResult>(Wait);
        Assert.Null(result.Twin);
        Assert.Contains("disk is full", result.Error);

        var twin = Ask<TwinResult>(device, new GetTwin(Id)).Twin!;
        Assert.Empty(twin.Desired);
        Assert.Equal(0, twin.DesiredVersion);
    }

    [Fact]
    public void A_store_that_does_not_answer_a_save_should_leave_the_twin_unchanged()
    {
        var store = CreateTestProbe();
        var device = Device(store.Ref);
        device.Tell(Desired(("mode", "eco")), TestActor);
        AnswerLoad(store);
        store.ExpectMsg<SaveTwin>(Wait); // never answered

        Clock.Advance(Settings.StoreTimeout);

        Assert.Contains("did not answer", ExpectMsg<TwinResult>(Wait).Error);
        Assert.Empty(Ask<TwinResult>(device, new GetTwin(Id)).Twin!.Desired);
    }

    [Fact]
    public void Updates_should_be_saved_one_at_a_time_in_order()
    {
        var store = CreateTestProbe();
        var device = Device(store.Ref);
        device.Tell(Desired(("a", "1")), TestActor);
        device.Tell(Desired(("a", "2")), TestActor);
        AnswerLoad(store);

        var first = store.ExpectMsg<SaveTwin>(Wait);
        var entity = store.LastSender;
        store.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // the second waits for the first to be stored
        entity.Tell(new TwinStored(Id, first.Token, first.Twin, [], ""), store.Ref);
        var second = StoreSave(store);

        Assert.Equal(1, ExpectMsg<TwinResult>(Wait).Twin!.DesiredVersion);
        var last = ExpectMsg<TwinResult>(Wait).Twin!;
        Assert.Equal((2L, "2"), (last.DesiredVersion, Assert.Single(last.Desired).Value));
        Assert.Equal(2, second.Twin.DesiredVersion);
    }

    [Fact]
    public void Reported_values_should_version_their_own_side_and_leave_the_delta()
    {
        var device = Device(RealStore());
        Ask<TwinResult>(device, Desired(("rate", "10"), ("mode", "eco")));

        var result = Ask<TwinResult>(device, new ReportTwin(Id, [new TwinValue("rate", "10"), new TwinValue("firmware", "1.2")]));

        var twin = result.Twin!;
        Assert.Equal((1L, 1L), (twin.DesiredVersion, twin.ReportedVersion));
        Assert.Equal("mode", Assert.Single(twin.Delta()).Name);
        var removed = Ask<TwinResult>(device, new SetDesired(Id, [new TwinValue("mode", "", Remove: true)])).Twin!;
        Assert.Equal(2, removed.DesiredVersion);
        Assert.Empty(removed.Delta());
    }

    [Theory]
    [InlineData("", "x", "name is empty")]
    [InlineData("ok", "a value longer than 16", "limit is 16")]
    public void Bad_properties_should_be_refused_naming_the_problem_and_store_nothing(string name, string value, string expected)
    {
        var store = CreateTestProbe();
        var device = Device(store.Ref);
        device.Tell(Desired((name, value)), TestActor);
        AnswerLoad(store);

        var result = ExpectMsg<TwinResult>(Wait);

        Assert.Null(result.Twin);
        Assert.Contains(expected, result.Error);
        store.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_failed_load_should_answer_every_waiting_request_and_be_retried_on_the_next()
    {
        var store = CreateTestProbe();
        var device = Device(store.Ref);
        device.Tell(new GetTwin(Id), TestActor);
        device.Tell(new GetCommands(Id), TestActor);
        store.ExpectMsg<LoadTwin>(Wait);
        store.Reply(new TwinStored(Id, 0, null, [], "the twin store could not be opened: disk I/O error"));

        Assert.Contains("disk I/O error", ExpectMsg<TwinResult>(Wait).Error);
        Assert.Contains("disk I/O error", ExpectMsg<DeviceCommands>(Wait).Error);

        device.Tell(new GetTwin(Id), TestActor);
        AnswerLoad(store, DeviceTwin.Empty(Id) with { DesiredVersion = 3 });
        Assert.Equal(3, ExpectMsg<TwinResult>(Wait).Twin!.DesiredVersion);
    }

    [Fact]
    public void Telemetry_should_not_load_the_twin()
    {
        var store = CreateTestProbe();
        var device = Device(store.Ref);

        device.Tell(new TelemetryBatch(Id, 1, [1, 2], [1_700_000_000_001, 1_700_000_000_002], [1f, 2f]), TestActor);

        ExpectMsg<IngestAck>(Wait);
        store.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_follower_should_receive_twin_changes_and_the_devices_acks()
    {
        var store = CreateTestProbe();
        var device = Device(store.Ref);
        var follower = CreateTestProbe();
        device.Tell(new AttachDevice(Id, follower.Ref.Path.ToString(), IsDevice: false));
        AnswerLoad(store);
        follower.ExpectMsg<DeviceTwin>(Wait);

        device.Tell(Desired(("mode", "eco")), TestActor);
        StoreSave(store);
        ExpectMsg<TwinResult>(Wait);
        Assert.Equal(1, follower.ExpectMsg<DeviceTwin>(Wait).DesiredVersion);

        device.Tell(new TelemetryBatch(Id, 1, [1], [1_700_000_000_001], [1f]), TestActor);
        ExpectMsg<IngestAck>(Wait);
        Assert.Equal(1, follower.ExpectMsg<IngestAck>(Wait).Accepted);

        device.Tell(new DetachDevice(Id, follower.Ref.Path.ToString()));
        device.Tell(new TelemetryBatch(Id, 1, [2], [1_700_000_000_002], [1f]), TestActor);
        ExpectMsg<IngestAck>(Wait);
        follower.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_stopping_entity_should_tell_its_subscribers_they_are_detached()
    {
        var store = CreateTestProbe();
        var device = Device(store.Ref);
        var connection = CreateTestProbe();
        device.Tell(new AttachDevice(Id, connection.Ref.Path.ToString(), IsDevice: true));
        AnswerLoad(store);
        connection.ExpectMsg<DeviceTwin>(Wait);

        device.Tell(StopDevice.Instance);

        Assert.Equal(connection.Ref.Path.ToString(), connection.ExpectMsg<DetachDevice>(Wait).SubscriberPath);
    }
}
