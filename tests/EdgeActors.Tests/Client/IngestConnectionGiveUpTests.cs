using Akka.Actor;
using Akka.Remote;
using Akka.TestKit;
using EdgeActors.Client;
using EdgeActors.Messages;
using static EdgeActors.Tests.Gateway.IngestEndpointTests;

namespace EdgeActors.Tests.Client;

/// <summary>
/// The ingest stream's client side gives a gateway up before the watch failure detector would: at once when its
/// connection closes (a killed node), and when it has answered nothing for the silence limit while a request to it is as
/// old (a partition). What was in flight to it goes to another gateway. The request timeout (20 s here) is far longer
/// than the waits below, so a resend seen within them comes from the give-up, not from the timeout.
/// </summary>
public sealed class IngestConnectionGiveUpTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(20);

    private (IActorRef Connection, TestProbe A, TestProbe B) Start(TimeSpan silentAfter)
    {
        var a = CreateTestProbe("gateway-a");
        var b = CreateTestProbe("gateway-b");
        var paths = new Dictionary<string, string> { ["a:1"] = a.Ref.Path.ToString(), ["b:1"] = b.Ref.Path.ToString() };
        var connection = Sys.ActorOf(IngestConnection.Props(["a:1", "b:1"], c => paths[c], "", RequestTimeout,
            TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200), silentAfter));
        return (connection, a, b);
    }

    private static IngestConnection.Outstanding Submit(IActorRef connection, long id, string device)
    {
        var o = new IngestConnection.Outstanding(id, Batch(device), new TaskCompletionSource<Reply<IEdgeMessage>>(TaskCreationOptions.RunContinuationsAsynchronously));
        connection.Tell(new IngestConnection.Submit(o));
        return o;
    }

    /// <summary>Waits for the request <paramref name="id"/> at either gateway; returns the one that got it.</summary>
    private TestProbe Received(long id, TestProbe a, TestProbe b, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline)
        {
            foreach (var p in new[] { a, b })
                if (p.HasMessages && p.ReceiveOne(TimeSpan.Zero) is IngestRequests r && r.Ids.Contains(id)) return p;
            Thread.Sleep(10);
        }
        throw new Xunit.Sdk.XunitException($"request {id} did not reach a gateway within {within.TotalSeconds} s");
    }

    [Fact]
    public async Task A_silent_gateway_should_be_given_up_and_its_requests_sent_to_another()
    {
        var (connection, a, b) = Start(silentAfter: TimeSpan.FromMilliseconds(500));
        var o = Submit(connection, 1, "dev-1");
        var first = Received(1, a, b, TimeSpan.FromSeconds(5));
        // the first gateway never answers; the second answers whatever it gets
        var second = Received(1, a, b, TimeSpan.FromSeconds(8));
        Assert.NotSame(first, second);
        second.LastSender.Tell(new IngestReplies([1], [new IngestAck(new DeviceId("dev-1"), 2, 2, [], "")]), second.Ref);
        var reply = await o.Completion.Task.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(2, reply.Attempts);
    }

    [Fact]
    public void A_gateway_that_keeps_answering_should_not_be_given_up_for_one_slow_request()
    {
        var (connection, a, b) = Start(silentAfter: TimeSpan.FromMilliseconds(500));
        Submit(connection, 1, "dev-1");
        var slow = Received(1, a, b, TimeSpan.FromSeconds(5));
        var other = slow == a ? b : a;
        // the same gateway (here a child of it, as its exchanges answer) answers other requests every 100 ms for 2 s
        // (four silence limits): request 1 stays with it
        var exchange = slow.ChildActorOf(Props.Create(() => new Forwarder(slow.LastSender)), "exchange-1");
        for (var i = 0; i < 20; i++)
        {
            var id = 100 + i;
            exchange.Tell(new IngestReplies([id], [new IngestAck(new DeviceId("x"), 0, 0, [], "")]));
            Thread.Sleep(100);
        }
        other.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Assert.False(other.HasMessages);
    }

    [Fact]
    public void A_closed_connection_should_send_the_requests_in_flight_to_the_gateway_again_before_the_watch_fires()
    {
        // silence limit longer than the test's waits: only the disassociation can cause the resend
        var (connection, a, b) = Start(silentAfter: TimeSpan.FromSeconds(15));
        Submit(connection, 1, "dev-1");
        var first = Received(1, a, b, TimeSpan.FromSeconds(5));
        first.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        // (both probes live in this ActorSystem, so both share the address the event names: both are given up and
        // found again by Identify, and the request goes out a second time)
        Sys.EventStream.Publish(new DisassociatedEvent(((ExtendedActorSystem)Sys).Provider.DefaultAddress,
            first.Ref.Path.Address, inbound: false));
        Received(1, a, b, TimeSpan.FromSeconds(8));
    }

    /// <summary>Passes what it gets on to the connection as its own (an exchange actor under the gateway's endpoint).</summary>
    private sealed class Forwarder : ReceiveActor
    {
        public Forwarder(IActorRef to) => ReceiveAny(m => to.Tell(m, Self));
    }
}
