using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Configuration;
using EdgeActors.Actors.Gateway;
using EdgeActors.Actors.Security;
using EdgeActors.Client.Security;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Security;

/// <summary>Client tokens at the gateway: nothing unauthenticated or unauthorised reaches the devices.</summary>
public sealed class GatewayAuthTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private static readonly byte[] Key = ClientTokens.NewKey();

    private static readonly Config TestConfig =
        ConfigurationFactory.ParseString("akka.actor.serialize-messages = on").WithFallback(EdgeSerialization.Config);

    public GatewayAuthTests() : base(TestConfig)
    {
    }

    private (IActorRef Gateway, Akka.TestKit.TestProbe Region) Start(bool auth = true)
    {
        var region = CreateTestProbe("region");
        return (Sys.ActorOf(GatewayActor.Props(region.Ref, 64, auth: auth ? new ClientAuth(Key, 2) : null)), region);
    }

    private static string Token(params string[] scopes) =>
        ClientTokens.Issue(Key, new ClientClaims("app", scopes, "", DateTimeOffset.UtcNow.AddHours(1)));

    private static TelemetryBatch Batch(string id = "sensor-1") => new(new DeviceId(id), 1, [1, 2], [1000, 1001], [1f, 2f]);

    [Fact]
    public void A_valid_token_with_the_scope_should_let_the_request_through_with_the_original_sender()
    {
        var (gateway, region) = Start();
        var client = CreateTestProbe();

        gateway.Tell(new Authenticated(Token(ClientTokens.Ingest), Batch()), client.Ref);

        Assert.Equal(new DeviceId("sensor-1"), region.ExpectMsg<TelemetryBatch>(Wait).DeviceId);
        Assert.Equal(client.Ref, region.LastSender);
    }

    public static TheoryData<string, string> Refusals => new()
    {
        { "none", "requires a client token" },
        { "tampered", "signature is invalid" },
        { "other-key", "signature is invalid" },
        { "expired", "expired at" },
        { "no-ingest", "needs scope 'ingest'" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void A_request_without_a_valid_authorised_token_should_be_rejected_and_not_forwarded(string kind, string reason)
    {
        var (gateway, region) = Start();
        var good = Token(ClientTokens.Ingest);
        object message = kind switch
        {
            "none" => Batch(),
            "tampered" => new Authenticated(good[..^2] + (good[^2] == 'A' ? "BB" : "AA"), Batch()),
            "other-key" => new Authenticated(ClientTokens.Issue(ClientTokens.NewKey(), new ClientClaims("app", [ClientTokens.Ingest], "", DateTimeOffset.UtcNow.AddHours(1))), Batch()),
            "expired" => new Authenticated(ClientTokens.Issue(Key, new ClientClaims("app", [ClientTokens.Ingest], "", DateTimeOffset.UtcNow.AddSeconds(-1))), Batch()),
            "no-ingest" => new Authenticated(Token(ClientTokens.Query), Batch()),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };

        gateway.Tell(message, TestActor);

        Assert.Contains(reason, ExpectMsg<RequestRejected>(Wait).Reason);
        region.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void Cached_tokens_should_still_be_checked_for_scope_per_request()
    {
        var (gateway, region) = Start();
        var token = Token(ClientTokens.Query);

        gateway.Tell(new Authenticated(token, new GetDeviceState(new DeviceId("sensor-1"))), TestActor);
        region.ExpectMsg<GetDeviceState>(Wait);
        gateway.Tell(new Authenticated(token, Batch()), TestActor);

        Assert.Contains("needs scope 'ingest'", ExpectMsg<RequestRejected>(Wait).Reason);
        region.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void Without_client_tokens_the_gateway_should_accept_plain_and_wrapped_requests()
    {
        var (gateway, region) = Start(auth: false);

        gateway.Tell(Batch("a"), TestActor);
        gateway.Tell(new Authenticated("anything", Batch("b")), TestActor);

        Assert.Equal(new DeviceId("a"), region.ExpectMsg<TelemetryBatch>(Wait).DeviceId);
        Assert.Equal(new DeviceId("b"), region.ExpectMsg<TelemetryBatch>(Wait).DeviceId);
    }
}
