using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Akka.Actor;
using EdgeActors.Messages;
using EdgeActors.Mqtt;
using MQTTnet.Protocol;

namespace EdgeActors.Tests.Mqtt;

public sealed class MqttDeviceBridgeTests : Akka.TestKit.Xunit2.TestKit
{
    private readonly ConcurrentQueue<(string Topic, byte[] Payload, bool Retain)> _published = new();

    private IActorRef Bridge(IActorRef region) => Sys.ActorOf(MqttDeviceBridge.Props(region, (topic, payload, retain, _) =>
    {
        _published.Enqueue((topic, payload, retain));
        return Task.CompletedTask;
    }));

    [Fact]
    public void A_device_followed_by_sessions_should_be_attached_once_and_detached_when_its_last_session_disconnects()
    {
        var region = CreateTestProbe();
        var bridge = Bridge(region);
        bridge.Tell(new MqttDeviceBridge.SessionConnected("c1", true));
        bridge.Tell(new MqttDeviceBridge.SessionFollows("c1", "edge1/s1"));
        var attach = region.ExpectMsg<AttachDevice>();
        Assert.Equal("edge1/s1", attach.DeviceId.Value);
        Assert.True(attach.IsDevice);
        Assert.Contains("/user/", attach.SubscriberPath);
        bridge.Tell(new MqttDeviceBridge.SessionConnected("c2", true));
        bridge.Tell(new MqttDeviceBridge.SessionFollows("c2", "edge1/s1"));
        bridge.Tell(new MqttDeviceBridge.SessionDisconnected("c1"));
        region.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        bridge.Tell(new MqttDeviceBridge.SessionDisconnected("c2"));
        var detach = region.ExpectMsg<DetachDevice>();
        Assert.Equal(attach.SubscriberPath, detach.SubscriberPath);
    }

    /// <summary>A bridge whose persistent client "dev" followed <paramref name="devices"/> (attached) and is away (detached).</summary>
    private IActorRef PersistentSessionAway(Akka.TestKit.TestProbe region, params string[] devices)
    {
        var bridge = Bridge(region);
        bridge.Tell(new MqttDeviceBridge.SessionConnected("dev", false));
        foreach (var d in devices) bridge.Tell(new MqttDeviceBridge.SessionFollows("dev", d));
        Assert.Equal(devices, devices.Select(_ => region.ExpectMsg<AttachDevice>().DeviceId.Value).ToArray());
        bridge.Tell(new MqttDeviceBridge.SessionDisconnected("dev"));
        foreach (var _ in devices) region.ExpectMsg<DetachDevice>();
        return bridge;
    }

    [Fact]
    public void A_persistent_session_should_be_attached_again_when_it_reconnects_and_a_clean_one_should_not()
    {
        var region = CreateTestProbe();
        var bridge = PersistentSessionAway(region, "d");
        bridge.Tell(new MqttDeviceBridge.SessionConnected("dev", false));
        Assert.Equal("d", region.ExpectMsg<AttachDevice>().DeviceId.Value);
        bridge.Tell(new MqttDeviceBridge.SessionDisconnected("dev"));
        region.ExpectMsg<DetachDevice>();
        bridge.Tell(new MqttDeviceBridge.SessionConnected("dev", true));
        region.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void An_ended_session_should_not_be_attached_again_when_its_client_reconnects()
    {
        var region = CreateTestProbe();
        var bridge = PersistentSessionAway(region, "d");
        bridge.Tell(new MqttDeviceBridge.SessionEnded("dev")); // expired while away
        bridge.Tell(new MqttDeviceBridge.SessionConnected("dev", false));
        region.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_reconnect_that_lost_the_right_to_a_device_should_not_attach_it()
    {
        var region = CreateTestProbe();
        var bridge = PersistentSessionAway(region, "d1", "d2");
        bridge.Tell(new MqttDeviceBridge.SessionUnfollows("dev", ["d2"]));
        bridge.Tell(new MqttDeviceBridge.SessionConnected("dev", false));
        Assert.Equal("d1", region.ExpectMsg<AttachDevice>().DeviceId.Value);
        region.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void Twin_changes_should_be_published_as_document_and_retained_delta_and_pending_commands_delivered()
    {
        var bridge = Bridge(CreateTestProbe());
        var id = new DeviceId("edge1/s1");
        bridge.Tell(new DeviceTwin(id, [new TwinProperty("rate", "10", 2, 5)], [new TwinProperty("rate", "5", 1, 4)], 2, 1));
        AwaitCondition(() => _published.Count >= 2);
        Assert.True(_published.TryDequeue(out var doc));
        Assert.Equal((MqttTopics.TwinDocument("edge1/s1"), false), (doc.Topic, doc.Retain));
        Assert.True(_published.TryDequeue(out var delta));
        Assert.Equal((MqttTopics.TwinDelta("edge1/s1"), true), (delta.Topic, delta.Retain));
        Assert.Equal("10", JsonDocument.Parse(delta.Payload).RootElement.GetProperty("delta").GetProperty("rate").GetString());

        // in sync: the retained delta is cleared (empty retained payload)
        bridge.Tell(new DeviceTwin(id, [new TwinProperty("rate", "10", 2, 5)], [new TwinProperty("rate", "10", 2, 6)], 2, 2));
        AwaitCondition(() => _published.Count >= 2);
        _published.TryDequeue(out _);
        _published.TryDequeue(out var cleared);
        Assert.Equal((MqttTopics.TwinDelta("edge1/s1"), true, 0), (cleared.Topic, cleared.Retain, cleared.Payload.Length));

        bridge.Tell(new CommandStatus(id, "c1", "recalibrate", "", CommandState.Pending, 1, 100, 1, ""));
        bridge.Tell(new CommandStatus(id, "c0", "old", "", CommandState.Acknowledged, 1, 100, 1, "ok"));
        AwaitCondition(() => !_published.IsEmpty);
        _published.TryDequeue(out var command);
        Assert.Equal(MqttTopics.Commands("edge1/s1"), command.Topic);
        Assert.Equal("c1", JsonDocument.Parse(command.Payload).RootElement.GetProperty("id").GetString());
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.True(_published.IsEmpty); // an acknowledged command is not delivered again
    }

    [Fact]
    public void A_busy_refusal_should_resend_only_the_refused_readings()
    {
        var batch = new TelemetryBatch(new DeviceId("d"), 2, [1, 2, 3], [10, 20, 30], [1, 1, 2, 2, 3, 3]);
        var rest = (TelemetryBatch)MqttBroker.Remaining(batch, [new Rejection(2, RejectReason.OutboxFull, ""), new Rejection(3, RejectReason.Overloaded, "")]);
        Assert.Equal([2L, 3L], rest.Sequences);
        Assert.Equal([20L, 30L], rest.Timestamps);
        Assert.Equal([2f, 2f, 3f, 3f], rest.Values);
    }

    [Fact]
    public void Garbled_payloads_should_be_refused_or_parsed_and_never_throw()
    {
        var random = new Random(13);
        var seeds = new[]
        {
            """{"seq":1,"ts":2,"values":[1,2,3]}""", """{"readings":[{"seq":1,"values":[1]},{"seq":2,"values":[2]}]}""",
            """{"event_id":"e","twin":{"a":{"actual":{"value":"1"}}}}""", """{"id":"c","success":true,"result":"r"}""",
            """{"seq":1,"pixels":"AAAA"}""",
        };
        for (var i = 0; i < 5_000; i++)
        {
            var bytes = Encoding.UTF8.GetBytes(seeds[i % seeds.Length]);
            var n = random.Next(1, 4);
            for (var k = 0; k < n; k++)
            {
                switch (random.Next(3))
                {
                    case 0: bytes[random.Next(bytes.Length)] = (byte)random.Next(256); break;
                    case 1: bytes = bytes[..random.Next(bytes.Length)]; break;
                    default: bytes = [.. bytes, .. Enumerable.Range(0, random.Next(1, 8)).Select(_ => (byte)random.Next(256))]; break;
                }
                if (bytes.Length == 0) break;
            }
            var payload = new ReadOnlySequence<byte>(bytes);
            var t = MqttPayloads.ParseTelemetry("d", payload, 0);
            Assert.True(t.Value is not null ^ t.Error is not null);
            var f = MqttPayloads.ParseFrame("d", payload, _ => random.Next(2) == 0 ? "1" : null, 0);
            Assert.True(f.Value is not null ^ f.Error is not null);
            var tw = MqttPayloads.ParseTwinUpdate("d", payload);
            Assert.True(tw.Value is not null ^ tw.Error is not null);
            var c = MqttPayloads.ParseCommandAck("d", payload);
            Assert.True(c.Value is not null ^ c.Error is not null);
            _ = MqttPayloads.EventId(payload);
            _ = MqttTopics.Parse(Encoding.UTF8.GetString(bytes));
        }
    }
}
