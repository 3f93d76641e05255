using System.Threading.Channels;
using Akka.Actor;
using EdgeActors.Http.Devices;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Http;

public sealed class SseFollowerTests : Akka.TestKit.Xunit2.TestKit
{
    [Fact]
    public void Follower_should_attach_stream_device_events_and_detach_when_stopped()
    {
        var region = CreateTestProbe();
        var channel = Channel.CreateUnbounded<object>();
        var device = new DeviceId("site-a/cam-1");
        var follower = Sys.ActorOf(SseFollower.Props(device, region.Ref, channel.Writer, TimeSpan.FromMinutes(1)));
        var attach = region.ExpectMsg<AttachDevice>();
        Assert.False(attach.IsDevice);
        Assert.Equal(device, attach.DeviceId);
        Assert.Equal(follower.Path.ToStringWithoutAddress(), ActorPath.Parse(attach.SubscriberPath).ToStringWithoutAddress());

        var ack = new IngestAck(device, 1, 1, [], "n");
        follower.Tell(ack);
        follower.Tell(new TwinResult(device, null, "")); // a reply, not an event: not streamed
        follower.Tell(new DeviceAlert(device, "anomaly", 1, 2, "spike"));
        Assert.True(channel.Reader.TryRead(out var first) || SpinRead(channel, out first));
        Assert.Equal(ack, first);
        Assert.True(SpinRead(channel, out var second));
        Assert.IsType<DeviceAlert>(second);

        Sys.Stop(follower);
        var detach = region.ExpectMsg<DetachDevice>();
        Assert.Equal(attach.SubscriberPath, detach.SubscriberPath);
        AwaitCondition(() => channel.Reader.Completion.IsCompleted);
    }

    private bool SpinRead(Channel<object> channel, out object item)
    {
        object? got = null;
        AwaitCondition(() => channel.Reader.TryRead(out got));
        item = got!;
        return true;
    }
}
