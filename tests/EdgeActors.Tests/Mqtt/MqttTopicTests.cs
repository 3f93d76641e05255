using EdgeActors.Client.Security;
using EdgeActors.Mqtt;

namespace EdgeActors.Tests.Mqtt;

public class MqttTopicTests
{
    [Theory]
    [InlineData("edgeactors/devices/s1/telemetry", MqttTopicKind.Telemetry, "s1")]
    [InlineData("edgeactors/devices/site-a/s1/telemetry", MqttTopicKind.Telemetry, "site-a/s1")]
    [InlineData("edgeactors/devices/site-a/cam/frames", MqttTopicKind.Frames, "site-a/cam")]
    [InlineData("edgeactors/devices/a/b/commands/ack", MqttTopicKind.CommandAck, "a/b")]
    [InlineData("edgeactors/devices/a/b/commands", MqttTopicKind.Commands, "a/b")]
    [InlineData("edgeactors/devices/a/b/ack", MqttTopicKind.Ack, "a/b")]
    [InlineData("edgeactors/devices/a/#", MqttTopicKind.AllOfDevice, "a")]
    [InlineData("$hw/events/device/site-a/s1/twin/update", MqttTopicKind.TwinUpdate, "site-a/s1")]
    [InlineData("$hw/events/device/s1/twin/update/result", MqttTopicKind.TwinUpdateResult, "s1")]
    [InlineData("$hw/events/device/s1/twin/update/delta", MqttTopicKind.TwinDelta, "s1")]
    [InlineData("$hw/events/device/s1/twin/update/document", MqttTopicKind.TwinDocument, "s1")]
    [InlineData("$hw/events/device/s1/twin/get", MqttTopicKind.TwinGet, "s1")]
    [InlineData("$hw/events/device/s1/twin/get/result", MqttTopicKind.TwinGetResult, "s1")]
    [InlineData("edgeactors/devices/+/ack", MqttTopicKind.Ack, "+")]
    [InlineData("$hw/events/device/site-a/s1/twin/#", MqttTopicKind.AllOfDevice, "site-a/s1")]
    [InlineData("$hw/events/device/s1/twin/update/#", MqttTopicKind.AllOfDevice, "s1")]
    [InlineData("$hw/events/device/s1/#", MqttTopicKind.AllOfDevice, "s1")]
    public void Topics_should_parse_to_their_kind_and_the_device_id_between_prefix_and_suffix(string topic, MqttTopicKind kind, string id)
    {
        Assert.Equal(new MqttTopic(kind, id), MqttTopics.Parse(topic));
    }

    [Theory]
    [InlineData("edgeactors/devices/telemetry")]
    [InlineData("edgeactors/devices//telemetry")]
    [InlineData("edgeactors/devices/s1/readings")]
    [InlineData("other/topic")]
    [InlineData("")]
    [InlineData("$hw/events/device/s1/twin")]
    public void Other_topics_should_not_parse(string topic) => Assert.Null(MqttTopics.Parse(topic));

    [Fact]
    public void Topic_builders_should_parse_back_to_the_same_device()
    {
        foreach (var t in new[] { MqttTopics.Telemetry("a/b"), MqttTopics.Frames("a/b"), MqttTopics.Ack("a/b"), MqttTopics.Commands("a/b"),
                     MqttTopics.CommandAck("a/b"), MqttTopics.TwinUpdate("a/b"), MqttTopics.TwinUpdateResult("a/b"), MqttTopics.TwinDelta("a/b"),
                     MqttTopics.TwinDocument("a/b"), MqttTopics.TwinGet("a/b"), MqttTopics.TwinGetResult("a/b") })
            Assert.Equal("a/b", MqttTopics.Parse(t)!.Value.DeviceId);
    }

    private static ClientClaims Claims(string prefix, params string[] scopes) => new("c", scopes, prefix, DateTimeOffset.MaxValue);

    [Fact]
    public void A_device_token_should_publish_and_subscribe_only_its_own_topics()
    {
        var c = Claims("site-a/s1", ClientTokens.Ingest);
        Assert.Null(MqttAccess.CanPublish(c, "edgeactors/devices/site-a/s1/telemetry", 128));
        Assert.Null(MqttAccess.CanPublish(c, "$hw/events/device/site-a/s1/twin/update", 128));
        Assert.Null(MqttAccess.CanSubscribe(c, "edgeactors/devices/site-a/s1/ack", 128));
        Assert.Contains("not authorised for device 'site-a/s2'", MqttAccess.CanPublish(c, "edgeactors/devices/site-a/s2/telemetry", 128));
        Assert.Contains("not authorised for device", MqttAccess.CanSubscribe(c, "edgeactors/devices/other/ack", 128));
        Assert.Contains("wildcard over devices", MqttAccess.CanSubscribe(c, "edgeactors/devices/+/ack", 128));
        Assert.Contains("only its devices' topics", MqttAccess.CanPublish(c, "some/other/topic", 128));
    }

    [Fact]
    public void Broker_topics_and_unknown_suffixes_should_not_be_publishable_by_clients()
    {
        Assert.Contains("published by the broker only", MqttAccess.CanPublish(null, "edgeactors/devices/s1/ack", 128));
        Assert.Contains("published by the broker only", MqttAccess.CanPublish(null, "$hw/events/device/s1/twin/update/delta", 128));
        Assert.Contains("not one of the broker's topics", MqttAccess.CanPublish(null, "edgeactors/devices/s1/readings", 128));
    }

    [Fact]
    public void Scopes_and_anonymous_access_should_be_checked()
    {
        Assert.Contains("needs scope 'ingest'", MqttAccess.CanPublish(Claims("", ClientTokens.Query), "edgeactors/devices/s1/telemetry", 128));
        Assert.Null(MqttAccess.CanSubscribe(Claims("", ClientTokens.Query), "edgeactors/devices/+/ack", 128));
        Assert.Null(MqttAccess.CanPublish(null, "edgeactors/devices/anything/telemetry", 128));
        Assert.Null(MqttAccess.CanPublish(null, "plain/relay", 128));
        Assert.Contains("limit is 4", MqttAccess.CanPublish(null, "edgeactors/devices/longer-than-four/telemetry", 4));
    }
}
