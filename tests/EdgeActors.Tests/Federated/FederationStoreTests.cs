using EdgeActors.Storage;
using EdgeActors.Actors.Federated;
using EdgeActors.Learning.Federated;
using EdgeActors.Messages;
using EdgeActors.Tests.Registry;
using EdgeActors.Tests.Serialization;

namespace EdgeActors.Tests.Federated;

public sealed class FederationStoreTests : IDisposable
{
    private readonly TempDatabase _db = new();

    public void Dispose() => _db.Dispose();

    private static RoundSummary Round(int r) => new(r, 1, 0.5 + r / 100.0, 1.0, 3, 3, 0, 0, 1.5, 0.1, 0, ["a", "b", "c"]);

    [Fact]
    public void CommitRound_should_apply_each_round_once_and_in_order()
    {
        var store = new FederationStore(_db.Path);
        var spec = SampleMessages.Spec();
        Assert.True(store.Create(spec, [0f, 0f]));
        Assert.False(store.Create(spec, [1f, 1f])); // the id is taken

        Assert.False(store.CommitRound(spec.Id, Round(2), [9f, 9f], false)); // not the next round
        Assert.True(store.CommitRound(spec.Id, Round(1), [1f, 2f], false));
        Assert.False(store.CommitRound(spec.Id, Round(1), [5f, 5f], false)); // a second commit of round 1 (e.g. an old coordinator)
        store.StartAttempt(spec.Id, 4);
        store.StartAttempt(spec.Id, 3); // attempts never go back

        var loaded = store.Load(spec.Id)!;
        Assert.Equal(1, loaded.Round);
        Assert.Equal(4, loaded.Attempt);
        Assert.Equal([1f, 2f], loaded.Global);
        Assert.Equal("running", loaded.State);
        MessageAssert.Deep(Round(1), Assert.Single(loaded.History), "history");
        Assert.Equal([spec.Id], store.Running());
        MessageAssert.Deep(spec, loaded.Spec, "spec");
    }

    [Fact]
    public void A_second_store_on_the_same_file_should_see_the_committed_state()
    {
        var spec = SampleMessages.Spec() with { Rounds = 2 };
        var first = new FederationStore(_db.Path);
        first.Create(spec, [0f]);
        first.CommitRound(spec.Id, Round(1), [1f], false);
        first.CommitRound(spec.Id, Round(2), [2f], finished: true);
        first.SetModelVersion(spec.Id, 2, 7);

        var second = new FederationStore(_db.Path);
        var loaded = second.Load(spec.Id)!;

        Assert.Equal("done", loaded.State);
        Assert.Empty(second.Running());
        Assert.Equal(7, loaded.History[1].ModelVersion);
        Assert.Null(second.Load("nope"));
    }
}
