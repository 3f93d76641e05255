using Akka.Actor;
using Akka.TestKit;
using EdgeActors.Actors.Federated;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Federated;

/// <summary>
/// The round coordinator's per-publish child: it publishes with itself as the sender, reports the registry's answer (or
/// a rejection when none comes in time) to its parent under its key, and stops.
/// </summary>
public sealed class PublishRequestTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly PublishModel Publish = new("fed-model", [1, 2, 3], [784], ["a", "b"], "round 1");

    [Fact]
    public void An_accepted_publish_should_be_reported_to_the_parent_and_the_child_should_stop()
    {
        var registry = CreateTestProbe();
        var child = ChildActorOf(PublishRequest.Props(registry.Ref, Publish, 7, Wait));
        Watch(child);
        Assert.Same(Publish, registry.ExpectMsg<PublishModel>(Wait));
        Assert.Equal(child, registry.LastSender);
        var published = new ModelPublished(new ModelInfo("fed-model", 3, [784], ["a", "b"], "sha", 3, 1, "round 1"), true);
        registry.Reply(published);
        var answered = ExpectMsg<PublishRequest.Answered>(Wait);
        Assert.Equal(7, answered.Key);
        Assert.Equal(published, answered.Outcome);
        ExpectTerminated(child, Wait);
    }

    [Fact]
    public void A_rejected_publish_should_be_reported_as_the_rejection()
    {
        var registry = CreateTestProbe();
        ChildActorOf(PublishRequest.Props(registry.Ref, Publish, 8, Wait));
        registry.ExpectMsg<PublishModel>(Wait);
        registry.Reply(new ModelCommandRejected("fed-model", "disk full"));
        var answered = ExpectMsg<PublishRequest.Answered>(Wait);
        Assert.Equal(8, answered.Key);
        Assert.Equal("disk full", Assert.IsType<ModelCommandRejected>(answered.Outcome).Reason);
    }

    [Fact]
    public void A_silent_registry_should_be_reported_as_a_rejection_after_the_timeout()
    {
        var registry = CreateTestProbe();
        var child = ChildActorOf(PublishRequest.Props(registry.Ref, Publish, 9, TimeSpan.FromMilliseconds(100)));
        Watch(child);
        registry.ExpectMsg<PublishModel>(Wait);
        var answered = ExpectMsg<PublishRequest.Answered>(Wait);
        Assert.Equal(9, answered.Key);
        Assert.Contains("no answer from the registry", Assert.IsType<ModelCommandRejected>(answered.Outcome).Reason);
        ExpectTerminated(child, Wait);
    }
}
