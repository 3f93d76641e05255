using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Configuration;
using EdgeActors.Actors.Gateway;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Gateway;

/// <summary>The gateway with a <see cref="Akka.TestKit.TestProbe"/> standing in for the device region.</summary>
public sealed class GatewayActorTests : Akka.TestKit.Xunit2.TestKit
{
    private const int MaxIdLength = 16;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    private static readonly Config TestConfig =
        ConfigurationFactory.ParseString("akka.actor.serialize-messages = on").WithFallback(EdgeSerialization.Config);

    public GatewayActorTests() : base(TestConfig)
    {
    }

    private (IActorRef Gateway, Akka.TestKit.TestProbe Region) Start()
    {
        var region = CreateTestProbe("region");
        return (Sys.ActorOf(GatewayActor.Props(region.Ref, MaxIdLength)), region);
    }

    private static TelemetryBatch Batch(string id) => new(new DeviceId(id), 1, [1, 2], [1000, 1001], [1f, 2f]);

    public static TheoryData<string> DeviceMessages => new() { "telemetry", "frame", "state", "set-desired", "get-twin", "send-command", "ack-command", "get-commands", "report-twin" };

    private static IWithDeviceId DeviceMessage(string kind, string id) => kind switch
    {
        "telemetry" => Batch(id),
        "frame" => new CameraFrame(new DeviceId(id), 1, 1000, 28, 28, new byte[28 * 28], CameraFrame.NoLabel),
        "state" => new GetDeviceState(new DeviceId(id)),
        "set-desired" => new SetDesired(new DeviceId(id), [new TwinValue("rate", "10")]),
        "report-twin" => new ReportTwin(new DeviceId(id), [new TwinValue("rate", "10")]),
        "get-twin" => new GetTwin(new DeviceId(id)),
        "send-command" => new SendCommand(new DeviceId(id), "c1", "reboot", "", 0),
        "ack-command" => new AcknowledgeCommand(new DeviceId(id), "c1", true, ""),
        "get-commands" => new GetCommands(new DeviceId(id)),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [Fact]
    public void Attach_and_detach_from_a_client_should_be_refused_and_not_reach_the_device()
    {
        var (gateway, region) = Start();

        gateway.Tell(new AttachDevice(new DeviceId("cam-01"), "akka.tcp://edgeactors@10.0.0.9:4053/user/spy", true), TestActor);
        Assert.Contains("not accepted from clients", ExpectMsg<RequestRejected>(Wait).Reason);
        gateway.Tell(new DetachDevice(new DeviceId("cam-01"), "akka.tcp://edgeactors@10.0.0.9:4053/user/spy"), TestActor);
        Assert.Contains("not accepted from clients", ExpectMsg<RequestRejected>(Wait).Reason);

        region.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Theory]
    [MemberData(nameof(DeviceMessages))]
    public void Valid_device_message_should_be_forwarded_with_the_original_sender(string kind)
    {
        var (gateway, region) = Start();
        var client = CreateTestProbe("client");
        var message = DeviceMessage(kind, "cam-01");

        gateway.Tell(message, client.Ref);

        var forwarded = region.ExpectMsg<IWithDeviceId>(Wait);
        Assert.Equal(message.GetType(), forwarded.GetType());
        Assert.NotSame(message, forwarded); // serialize-messages = on: a copy made by the EdgeSerializer
        Assert.Equal(new DeviceId("cam-01"), forwarded.DeviceId);
        Assert.Equal(client.Ref, region.LastSender);
        client.ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        // the region's reply goes straight to the client, not through the gateway
        region.Reply(new IngestAck(forwarded.DeviceId, 2, 2, [], "edge-1"));
        Assert.Equal("edge-1", client.ExpectMsg<IngestAck>(Wait).Node);
    }

    [Fact]
    public void Device_id_at_the_length_limit_should_be_forwarded()
    {
        var (gateway, region) = Start();
        var id = new string('d', MaxIdLength);

        gateway.Tell(Batch(id), TestActor);

        Assert.Equal(id, region.ExpectMsg<TelemetryBatch>(Wait).DeviceId.Value);
        Assert.Equal(TestActor, region.LastSender);
    }

    public static TheoryData<string, string> BadIds => new()
    {
        { "", "empty" },
        { "   ", "empty" },
        { new string('x', MaxIdLength + 1), $"{MaxIdLength + 1} characters long; the limit is {MaxIdLength}" },
        { "dev\u0001ice", "control character" },
        { "dev\nice", "control character" },
    };

    [Theory]
    [MemberData(nameof(BadIds))]
    public void Invalid_device_id_should_get_RequestRejected_naming_the_problem(string id, string problem)
    {
        var (gateway, region) = Start();

        foreach (var kind in new[] { "telemetry", "frame", "state" })
        {
            gateway.Tell(DeviceMessage(kind, id), TestActor);
            var rejected = ExpectMsg<RequestRejected>(Wait);
            Assert.Contains(problem, rejected.Reason);
        }
        region.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    private sealed record NotForTheGateway(string What);

    [Fact]
    public void Unsupported_message_type_should_get_RequestRejected_naming_the_type()
    {
        var (gateway, region) = Start();

        gateway.Tell(new NotForTheGateway("x"), TestActor);
        Assert.Contains($"'{nameof(NotForTheGateway)}'", ExpectMsg<RequestRejected>(Wait).Reason);

        // one of our own messages that carries no device id is not routed either (a client cannot stop a device)
        gateway.Tell(StopDevice.Instance, TestActor);
        Assert.Contains($"'{nameof(StopDevice)}'", ExpectMsg<RequestRejected>(Wait).Reason);

        gateway.Tell("hello", TestActor);
        Assert.Contains("'String'", ExpectMsg<RequestRejected>(Wait).Reason);

        region.ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        // and the gateway is still in service
        gateway.Tell(Batch("ok"), TestActor);
        region.ExpectMsg<TelemetryBatch>(Wait);
    }

    public static TheoryData<string> NodeQueries => new() { "sync", "store", "inference" };

    private static INodeQuery NodeQuery(string kind, string node) => kind switch
    {
        "sync" => new GetSyncStatus(node),
        "store" => new GetStoreStatus(node),
        "inference" => new GetInferenceStatus(node),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [Theory]
    [MemberData(nameof(NodeQueries))]
    public void Node_query_naming_an_address_outside_the_cluster_should_be_rejected_naming_it(string kind)
    {
        var (gateway, region) = Start();
        var client = CreateTestProbe("client");

        gateway.Tell(NodeQuery(kind, "10.66.0.9:2552"), client.Ref);

        var rejected = client.ExpectMsg<RequestRejected>(Wait);
        Assert.Contains("10.66.0.9:2552", rejected.Reason);
        Assert.Contains("not a member", rejected.Reason);
        gateway.Tell(NodeQuery(kind, "akka.tcp://edgeactors@internal-db.example:5432"), client.Ref);
        Assert.Contains("internal-db.example:5432", client.ExpectMsg<RequestRejected>(Wait).Reason);
        region.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }
}
