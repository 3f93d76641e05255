using EdgeActors.Client.Serialization;
using EdgeActors.Storage;
using Akka.Actor;
using Akka.Configuration;
using EdgeActors.Actors.Gateway;
using EdgeActors.Client.Security;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Security;

/// <summary>
/// Token promises at the gateway that the cache could break: a token cached as valid is refused once it expires, and
/// a token limited to a device prefix is refused for other devices, the refusal naming the prefix.
/// </summary>
public sealed class GatewayTokenPromiseTests() : Akka.TestKit.Xunit2.TestKit(
    ConfigurationFactory.ParseString("akka.loglevel = WARNING").WithFallback(EdgeSerialization.Config))
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private static readonly byte[] Key = ClientTokens.NewKey();

    /// <summary>A clock the test moves.</summary>
    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static TelemetryBatch Batch(string id) => new(new DeviceId(id), 1, [1, 2], [1000, 1001], [1f, 2f]);

    [Fact]
    public void A_cached_token_should_be_refused_once_it_has_expired()
    {
        var start = DateTimeOffset.UtcNow;
        var clock = new ManualClock(start);
        var region = CreateTestProbe();
        var gateway = Sys.ActorOf(GatewayActor.Props(region.Ref, 64, auth: new ClientAuth(Key, 16) { Time = clock }));
        var expires = start.AddMinutes(10);
        var token = ClientTokens.Issue(Key, new ClientClaims("app", [ClientTokens.Ingest], "", expires));

        // valid now: verified and cached, the request goes through
        gateway.Tell(new Authenticated(token, Batch("sensor-1")), TestActor);
        region.ExpectMsg<TelemetryBatch>(Wait);
        clock.Now = start.AddMinutes(9);
        gateway.Tell(new Authenticated(token, Batch("sensor-2")), TestActor);
        region.ExpectMsg<TelemetryBatch>(Wait);

        // past its expiry the cached claims no longer count
        clock.Now = start.AddMinutes(11);
        gateway.Tell(new Authenticated(token, Batch("sensor-3")), TestActor);
        var refused = ExpectMsg<RequestRejected>(Wait);
        Assert.Contains("expired at", refused.Reason);
        Assert.Contains("'app'", refused.Reason);
        region.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_token_limited_to_a_device_prefix_should_be_refused_for_other_devices_naming_the_prefix()
    {
        var region = CreateTestProbe();
        var gateway = Sys.ActorOf(GatewayActor.Props(region.Ref, 64, auth: new ClientAuth(Key, 16)));
        var token = ClientTokens.Issue(Key, new ClientClaims("plant-a", [ClientTokens.Ingest, ClientTokens.Query], "plant-a/", DateTimeOffset.UtcNow.AddHours(1)));

        gateway.Tell(new Authenticated(token, Batch("plant-a/sensor-1")), TestActor);
        Assert.Equal(new DeviceId("plant-a/sensor-1"), region.ExpectMsg<TelemetryBatch>(Wait).DeviceId);

        // the same (now cached) token, for a device outside its prefix: ingest and query both refused
        gateway.Tell(new Authenticated(token, Batch("plant-b/sensor-1")), TestActor);
        var refused = ExpectMsg<RequestRejected>(Wait);
        Assert.Contains("device 'plant-b/sensor-1'", refused.Reason);
        Assert.Contains("starting with 'plant-a/'", refused.Reason);
        gateway.Tell(new Authenticated(token, new GetDeviceState(new DeviceId("plant-b/sensor-1"))), TestActor);
        Assert.Contains("starting with 'plant-a/'", ExpectMsg<RequestRejected>(Wait).Reason);
        region.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }
}
