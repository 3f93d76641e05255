using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using EdgeActors.Actors.Gateway;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using static EdgeActors.Tests.Gateway.IngestEndpointTests;

namespace EdgeActors.Tests.Gateway;

/// <summary>
/// An ingest exchange at its timeout, on virtual time (<see cref="VirtualTimeScheduler"/>): the timeout passes only when the test moves
/// time, so the answer the test sends before it is never late on a slow machine.
/// </summary>
public sealed class IngestExchangeTimeoutTests() : Akka.TestKit.Xunit2.TestKit(
    ConfigurationFactory.ParseString("""
        akka.actor.serialize-messages = on
        """).WithFallback(VirtualTimeScheduler.Config).WithFallback(EdgeSerialization.Config))
{
    [Fact]
    public void An_exchange_should_answer_what_it_has_at_its_timeout_name_the_rest_for_resending_and_free_its_readings()
    {
        var timeout = TimeSpan.FromMilliseconds(300);
        var settings = new IngestEndpointSettings { ExchangeTimeout = timeout, MinOutstandingReadings = 4, MaxOutstandingReadings = 4 };
        var region = CreateTestProbe("region");
        var endpoint = Sys.ActorOf(IngestEndpoint.Props(region.Ref, 64, settings, null));
        var clock = (VirtualTimeScheduler)Sys.Scheduler;

        endpoint.Tell(new IngestRequests("", [1, 2], [Batch("a"), Batch("b")])); // the exchange sets its timer before it sends
        var a = region.ExpectMsg<TelemetryBatch>(Wait);
        region.LastSender.Tell(Accepted(a)); // (queued at the exchange before anything time sends it)
        region.ExpectMsg<TelemetryBatch>(Wait); // b is never answered

        clock.Advance(timeout - TimeSpan.FromMilliseconds(1));
        ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // not before the timeout
        clock.Advance(TimeSpan.FromMilliseconds(1));
        var replies = ExpectMsg<IngestReplies>(Wait);
        Assert.Equal([1L], replies.Ids);
        Assert.Equal([2L], replies.Resend); // named for the client to resend now
        // b's readings were given up with the exchange: 4 readings fit again
        AwaitAssert(() => Assert.Equal(0, endpoint.Ask<IngestEndpointStats>(GetIngestEndpointStats.Instance, Wait).Result.Outstanding), Wait);
        endpoint.Tell(new IngestRequests("", [3, 4], [Batch("c"), Batch("d")]));
        AnswerAll(region, 2);
        Assert.Equal(2, ExpectMsg<IngestReplies>(Wait).Ids.Length);
    }
}
