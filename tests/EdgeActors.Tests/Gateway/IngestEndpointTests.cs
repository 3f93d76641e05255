using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using EdgeActors.Actors.Gateway;
using EdgeActors.Actors.Security;
using EdgeActors.Client.Security;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Gateway;

/// <summary>
/// The ingest endpoint: groups in, one answer per id out; admission control answers Overloaded instead of queueing.
/// (An exchange's timeout, on virtual time: <see cref="IngestExchangeTimeoutTests"/>.)
/// </summary>
public sealed class IngestEndpointTests : Akka.TestKit.Xunit2.TestKit
{
    internal static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private static readonly byte[] Key = ClientTokens.NewKey();

    private static readonly Config TestConfig =
        ConfigurationFactory.ParseString("akka.actor.serialize-messages = on").WithFallback(EdgeSerialization.Config);

    public IngestEndpointTests() : base(TestConfig)
    {
    }

    internal static TelemetryBatch Batch(string id, long first = 1, int n = 2) =>
        new(new DeviceId(id), 1, Enumerable.Range(0, n).Select(i => first + i).ToArray(), Enumerable.Range(0, n).Select(i => 1000L + i).ToArray(),
            Enumerable.Range(0, n).Select(i => (float)i).ToArray());

    internal static IngestAck Accepted(TelemetryBatch b) => new(b.DeviceId, b.Sequences[^1], b.Count, [], "edge-1", Level: AckLevel.DurableOnEdge);

    private (IActorRef Endpoint, TestProbe Region) Start(IngestEndpointSettings? settings = null, ClientAuth? auth = null)
    {
        var region = CreateTestProbe("region");
        return (Sys.ActorOf(IngestEndpoint.Props(region.Ref, 64, settings ?? IngestEndpointSettings.Default, auth)), region);
    }

    /// <summary>Answers every command the region probe gets (acks go to the exchange that sent it).</summary>
    internal static void AnswerAll(TestProbe region, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var b = region.ExpectMsg<TelemetryBatch>(Wait);
            region.LastSender.Tell(Accepted(b), region.Ref);
        }
    }

    private IngestReplies ExpectReplies() => ExpectMsg<IngestReplies>(Wait);

    [Fact]
    public void A_group_should_be_forwarded_and_every_id_answered_with_its_own_devices_ack()
    {
        var (endpoint, region) = Start();

        endpoint.Tell(new IngestRequests("", [10, 11, 12], [Batch("a"), Batch("b"), Batch("c")]));
        AnswerAll(region, 3);

        var replies = ExpectReplies();
        var byId = replies.Ids.Zip(replies.Replies).ToDictionary(p => p.First, p => (IngestAck)p.Second);
        Assert.Equal(["a", "b", "c"], new[] { 10L, 11, 12 }.Select(id => byId[id].DeviceId.Value));
        Assert.All(byId.Values, a => Assert.Equal(2, a.Accepted));
    }

    [Fact]
    public void Two_requests_of_one_device_in_a_group_should_each_get_their_own_answer()
    {
        var (endpoint, region) = Start();

        endpoint.Tell(new IngestRequests("", [1, 2], [Batch("a", 1), Batch("a", 3)]));
        var first = region.ExpectMsg<TelemetryBatch>(Wait);
        var firstExchange = region.LastSender;
        var second = region.ExpectMsg<TelemetryBatch>(Wait);
        // different exchanges: the ack of each names the device only, so one exchange never holds the device twice
        Assert.NotEqual(firstExchange, region.LastSender);
        region.LastSender.Tell(Accepted(second));
        firstExchange.Tell(Accepted(first));

        var answers = new[] { ExpectReplies(), ExpectReplies() }.SelectMany(r => r.Ids.Zip(r.Replies)).ToDictionary(p => p.First, p => (IngestAck)p.Second);
        Assert.Equal(2, answers[1].HighestContiguous);
        Assert.Equal(4, answers[2].HighestContiguous);
    }

    [Fact]
    public void Commands_beyond_the_outstanding_bound_should_be_answered_Overloaded_at_once_and_admitted_again_after_answers()
    {
        var settings = new IngestEndpointSettings { MinOutstandingReadings = 10, MaxOutstandingReadings = 10 };
        var (endpoint, region) = Start(settings);

        // 4 batches of 3 readings: 3 fit (9 readings), the 4th would make 12
        endpoint.Tell(new IngestRequests("", [1, 2, 3, 4], [Batch("a", 1, 3), Batch("b", 1, 3), Batch("c", 1, 3), Batch("d", 1, 3)]));

        var refused = ExpectReplies();
        Assert.Equal([4L], refused.Ids);
        var ack = Assert.IsType<IngestAck>(refused.Replies[0]);
        Assert.Equal(0, ack.Accepted);
        Assert.Equal([1L, 2, 3], ack.Rejected.Select(r => r.Sequence));
        Assert.All(ack.Rejected, r => Assert.Equal(RejectReason.Overloaded, r.Reason));
        AnswerAll(region, 3);
        Assert.Equal(3, ExpectReplies().Ids.Length);
        region.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        AwaitAssert(() => Assert.Equal(0, endpoint.Ask<IngestEndpointStats>(GetIngestEndpointStats.Instance, Wait).Result.Outstanding), Wait);

        // answered: the readings are no longer outstanding, so the device is admitted now
        endpoint.Tell(new IngestRequests("", [5], [Batch("d", 1, 3)]));
        AnswerAll(region, 1);
        Assert.Equal(3, Assert.IsType<IngestAck>(ExpectReplies().Replies[0]).Accepted);
    }

    [Fact]
    public void An_invalid_token_should_refuse_the_whole_group_and_forward_nothing()
    {
        var (endpoint, region) = Start(auth: new ClientAuth(Key));

        endpoint.Tell(new IngestRequests("not-a-token", [1, 2], [Batch("a"), Batch("b")]));

        var replies = ExpectReplies();
        Assert.Equal([1L, 2], replies.Ids);
        Assert.All(replies.Replies, r => Assert.Contains("unauthenticated", Assert.IsType<RequestRejected>(r).Reason));
        region.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_device_outside_the_tokens_prefix_or_with_a_bad_id_should_be_rejected_alone()
    {
        var token = ClientTokens.Issue(Key, new ClientClaims("app", [ClientTokens.Ingest], "sensor-", DateTimeOffset.UtcNow.AddHours(1)));
        var (endpoint, region) = Start(auth: new ClientAuth(Key));

        endpoint.Tell(new IngestRequests(token, [1, 2, 3], [Batch("sensor-1"), Batch("camera-1"), Batch("sensor-\u0001")]));

        var refused = ExpectReplies();
        Assert.Equal([2L, 3], refused.Ids);
        Assert.Contains("covers devices starting with 'sensor-'", Assert.IsType<RequestRejected>(refused.Replies[0]).Reason);
        Assert.Contains("control character", Assert.IsType<RequestRejected>(refused.Replies[1]).Reason);
        AnswerAll(region, 1);
        Assert.Equal([1L], ExpectReplies().Ids);
    }
}
