using System.Runtime.Serialization;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Serialization;

public sealed class IngestStreamSerializationTests : EdgeSerializationTestKit
{
    [Fact]
    public void IngestRequests_should_round_trip_telemetry_and_frames_with_their_ids()
    {
        var group = SampleMessages.IngestGroup();

        var back = RoundTrip(group);

        MessageAssert.Equal(group, back);
    }

    [Fact]
    public void IngestReplies_should_round_trip_acks_overload_refusals_and_rejections()
    {
        var replies = SampleMessages.IngestAnswers();

        var back = RoundTrip(replies);

        MessageAssert.Equal(replies, back);
        Assert.Equal(RejectReason.Overloaded, ((IngestAck)back.Replies[1]).Rejected[0].Reason);
    }

    [Fact]
    public void IngestRequests_should_round_trip_an_empty_token_and_no_items()
    {
        var group = new IngestRequests("", [], []);

        var back = RoundTrip(group);

        Assert.Equal("", back.Token);
        Assert.Empty(back.Ids);
        Assert.Empty(back.Commands);
    }

    [Fact]
    public void IngestRequests_should_refuse_to_encode_a_command_that_is_not_telemetry_or_a_frame()
    {
        var group = new IngestRequests("", [1], [new TrainingFrames(new DeviceId("d"), 1, [], [])]);

        var ex = Assert.Throws<ArgumentException>(() => SerializerFor(group).ToBinary(group));

        Assert.Contains("telemetry batches and camera frames only", ex.Message);
    }

    [Fact]
    public void IngestRequests_should_fail_on_an_unknown_item_kind_naming_the_item()
    {
        var group = new IngestRequests("t", [5], [SampleMessages.Frame()]);
        var bytes = SerializerFor(group).ToBinary(group);
        // layout: format version byte, token (length varint + 't'), item count, id varint, kind byte
        Assert.Equal(2, bytes[5]);
        bytes[5] = 9;

        var ex = Assert.Throws<SerializationException>(() => SerializerFor(group).FromBinary(bytes, "Ea"));

        Assert.Contains("item 0 has unknown kind 9", ex.Message);
    }

    [Fact]
    public void IngestRequests_should_fail_on_a_truncated_payload()
    {
        var group = SampleMessages.IngestGroup();
        var bytes = SerializerFor(group).ToBinary(group);

        Assert.Throws<SerializationException>(() => SerializerFor(group).FromBinary(bytes[..(bytes.Length / 2)], "Ea"));
    }
}
