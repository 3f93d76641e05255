using EdgeActors.Storage;
using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.TestKit;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Registry;
using EdgeActors.Inference.Runtime;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Tests.Inference;

namespace EdgeActors.Tests.Registry;

/// <summary>The registry as a plain actor on a temporary database, with a probe standing in for the pub-sub mediator.</summary>
public sealed class ModelRegistryActorTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30); // publishing loads the model with ONNX Runtime
    private readonly TempDatabase _db = new();

    public ModelRegistryActorTests() : base(EdgeSerialization.Config)
    {
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        _db.Dispose();
    }

    private static readonly string[] FiveLabels = ["a", "b", "c", "d", "e"];

    private (IActorRef Registry, TestProbe PubSub) Start(int chunkBytes = RegistrySettings.MaxChunkBytes)
    {
        var pubsub = CreateTestProbe();
        var settings = new RegistrySettings(_db.Path, chunkBytes) { ValidationRuntime = InferenceRuntimeSettings.Default };
        return (Sys.ActorOf(ModelRegistryActor.Props(settings, pubsub.Ref)), pubsub);
    }

    private ModelInfo Publish(IActorRef registry, TestProbe pubsub, string name, byte[] onnx, int expectedVersion)
    {
        registry.Tell(new PublishModel(name, onnx, [16], FiveLabels, $"v{expectedVersion}"));
        var published = ExpectMsg<ModelPublished>(Wait);
        Assert.Equal(expectedVersion, published.Model.Version);
        ExpectActivated(pubsub, name, expectedVersion);
        return published.Model;
    }

    private static ModelInfo ExpectActivated(TestProbe pubsub, string name, int version)
    {
        var publish = pubsub.ExpectMsg<Publish>(Wait);
        Assert.Equal(ModelTopics.Models, publish.Topic);
        var activated = Assert.IsType<ModelActivated>(publish.Message);
        Assert.Equal((name, version), (activated.Model.Name, activated.Model.Version));
        return activated.Model;
    }

    [Fact]
    public void Publishing_a_valid_model_should_store_v1_and_announce_it()
    {
        var (registry, pubsub) = Start();
        var (onnx, _, _) = TestModels.Linear(16, 5);

        registry.Tell(new PublishModel("fmnist-mlp", onnx, [16], FiveLabels, "linear test model"));

        var published = ExpectMsg<ModelPublished>(Wait);
        Assert.True(published.Active);
        Assert.Equal(1, published.Model.Version);
        Assert.Equal(OnnxModel.Sha256(onnx), published.Model.Sha256);
        Assert.Equal(onnx.Length, published.Model.SizeBytes);
        Assert.Equal(FiveLabels, published.Model.Labels);
        Assert.True(published.Model.CreatedAtMs > 0);
        Assert.Equal(OnnxModel.Sha256(onnx), ExpectActivated(pubsub, "fmnist-mlp", 1).Sha256);

        registry.Tell(GetActiveModels.Instance);
        Assert.Equal(["fmnist-mlp/1"], ExpectMsg<ActiveModels>(Wait).Models.Select(m => $"{m.Name}/{m.Version}"));
    }

    [Fact]
    public void Publishing_the_same_bytes_again_should_not_create_a_version()
    {
        var (registry, pubsub) = Start();
        var (onnx, _, _) = TestModels.Linear(16, 5);
        var (other, _, _) = TestModels.Linear(16, 5, seed: 9);

        registry.Tell(new PublishModel("m", onnx, [16], FiveLabels, "first"));
        Assert.Equal(1, ExpectMsg<ModelPublished>(Wait).Model.Version);
        registry.Tell(new PublishModel("m", onnx, [16], FiveLabels, "a retry of the first"));
        Assert.Equal(1, ExpectMsg<ModelPublished>(Wait).Model.Version);
        registry.Tell(new PublishModel("m", other, [16], FiveLabels, "different weights"));
        Assert.Equal(2, ExpectMsg<ModelPublished>(Wait).Model.Version);

        registry.Tell(ListModels.Instance);
        Assert.Equal([1, 2], ExpectMsg<ModelList>(Wait).Models.Select(m => m.Version));
    }

    [Fact]
    public void Publishing_a_corrupt_onnx_should_be_rejected_with_a_reason_and_store_nothing()
    {
        var (registry, pubsub) = Start();
        var garbage = new byte[2_000];
        new Random(3).NextBytes(garbage);

        registry.Tell(new PublishModel("broken", garbage, [16], FiveLabels, ""));

        var rejected = ExpectMsg<ModelCommandRejected>(Wait);
        Assert.Equal("broken", rejected.Name);
        Assert.Contains("ONNX Runtime cannot load", rejected.Reason);
        registry.Tell(ListModels.Instance);
        var list = ExpectMsg<ModelList>(Wait);
        Assert.Empty(list.Models);
        Assert.Empty(list.Policies);
        pubsub.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void Output_size_that_differs_from_the_label_count_should_be_rejected()
    {
        var (registry, pubsub) = Start();
        var (onnx, _, _) = TestModels.Linear(16, 5);

        registry.Tell(new PublishModel("mismatch", onnx, [16], ["only", "three", "labels"], ""));

        var rejected = ExpectMsg<ModelCommandRejected>(Wait);
        Assert.Contains("5 values per sample but 3 labels", rejected.Reason);
        registry.Tell(ListModels.Instance);
        Assert.Empty(ExpectMsg<ModelList>(Wait).Models);
        pubsub.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Theory]
    [InlineData("Bad Name", 16, "a-z")]
    [InlineData("ok", 0, "positive")]
    [InlineData("ok", -1, "positive")]
    public void Invalid_publish_arguments_should_be_rejected_without_loading(string name, int dim, string reason)
    {
        var (registry, _) = Start();
        var (onnx, _, _) = TestModels.Linear(16, 5);

        registry.Tell(new PublishModel(name, onnx, [dim], FiveLabels, ""));

        Assert.Contains(reason, ExpectMsg<ModelCommandRejected>(Wait).Reason);
    }

    [Fact]
    public void Publishing_without_labels_should_be_rejected()
    {
        var (registry, _) = Start();
        var (onnx, _, _) = TestModels.Linear(16, 5);

        registry.Tell(new PublishModel("nolabels", onnx, [16], [], ""));

        Assert.Contains("label", ExpectMsg<ModelCommandRejected>(Wait).Reason);
    }

    [Fact]
    public void Rollback_should_pin_the_previous_version_and_announce_it()
    {
        var (registry, pubsub) = Start();
        Publish(registry, pubsub, "m", TestModels.Linear(16, 5, seed: 1).Onnx, 1);
        Publish(registry, pubsub, "m", TestModels.Linear(16, 5, seed: 2).Onnx, 2);

        registry.Tell(new RollbackModel("m"));

        var changed = ExpectMsg<ModelPolicyChanged>(Wait);
        Assert.Equal(new ModelPolicy("m", 1, 1), changed.Policy);
        Assert.Equal(1, changed.Active.Version);
        ExpectActivated(pubsub, "m", 1);

        // nothing before v1
        registry.Tell(new RollbackModel("m"));
        Assert.Contains("no version before", ExpectMsg<ModelCommandRejected>(Wait).Reason);

        // a new version while pinned is stored but not active
        registry.Tell(new PublishModel("m", TestModels.Linear(16, 5, seed: 3).Onnx, [16], FiveLabels, "v3"));
        var v3 = ExpectMsg<ModelPublished>(Wait);
        Assert.Equal(3, v3.Model.Version);
        Assert.False(v3.Active);
        pubsub.ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        // back to the latest
        registry.Tell(new SetModelPolicy("m", 0));
        Assert.Equal(new ModelPolicy("m", 3, 0), ExpectMsg<ModelPolicyChanged>(Wait).Policy);
        ExpectActivated(pubsub, "m", 3);

        registry.Tell(new SetModelPolicy("m", 7));
        Assert.Contains("no version 7", ExpectMsg<ModelCommandRejected>(Wait).Reason);
        registry.Tell(new RollbackModel("unknown"));
        Assert.Contains("unknown model", ExpectMsg<ModelCommandRejected>(Wait).Reason);

        registry.Tell(ListModels.Instance);
        var list = ExpectMsg<ModelList>(Wait);
        Assert.Equal([1, 2, 3], list.Models.Select(m => m.Version));
        Assert.Equal([new ModelPolicy("m", 3, 0)], list.Policies);
    }

    [Fact]
    public void Chunks_should_reassemble_to_the_stored_sha256()
    {
        const int chunkBytes = 100;
        var (registry, pubsub) = Start(chunkBytes);
        var (onnx, _, _) = TestModels.Linear(16, 5);
        var info = Publish(registry, pubsub, "m", onnx, 1);
        Assert.True(info.SizeBytes > 3 * chunkBytes);

        var assembled = new List<byte>();
        while (assembled.Count < info.SizeBytes)
        {
            registry.Tell(new FetchModelChunk("m", 1, assembled.Count, int.MaxValue));
            var chunk = ExpectMsg<ModelChunk>(Wait);
            Assert.Equal((long)assembled.Count, chunk.Offset);
            Assert.Equal(info.SizeBytes, chunk.Total);
            Assert.InRange(chunk.Data.Length, 1, chunkBytes); // capped by the registry
            assembled.AddRange(chunk.Data);
        }

        Assert.Equal(info.Sha256, OnnxModel.Sha256(assembled.ToArray()));
        registry.Tell(new FetchModelChunk("m", 2, 0, 100));
        Assert.Contains("no version 2", ExpectMsg<ModelCommandRejected>(Wait).Reason);
        registry.Tell(new FetchModelChunk("m", 1, info.SizeBytes + 1, 100));
        Assert.Equal("m", ExpectMsg<ModelCommandRejected>(Wait).Name);
    }

    [Fact]
    public void A_restarted_registry_should_find_its_models_in_the_database()
    {
        var (registry, pubsub) = Start();
        Publish(registry, pubsub, "m", TestModels.Linear(16, 5, seed: 1).Onnx, 1);
        Publish(registry, pubsub, "m", TestModels.Linear(16, 5, seed: 2).Onnx, 2);
        registry.Tell(new SetModelPolicy("m", 1));
        ExpectMsg<ModelPolicyChanged>(Wait);
        Watch(registry);
        Sys.Stop(registry);
        ExpectTerminated(registry, Wait);

        var (again, _) = Start();
        again.Tell(GetActiveModels.Instance);

        var active = Assert.Single(ExpectMsg<ActiveModels>(Wait).Models);
        Assert.Equal(1, active.Version);
    }

    [Fact]
    public void Two_concurrent_publishes_of_the_same_model_should_store_one_version()
    {
        var (registry, _) = Start();
        var (onnx, _, _) = TestModels.Linear(16, 5);
        var client = CreateTestProbe();
        var retry = CreateTestProbe();

        // a client retry while the first publish is still being validated
        registry.Tell(new PublishModel("m", onnx, [16], FiveLabels, "first"), client.Ref);
        registry.Tell(new PublishModel("m", onnx, [16], FiveLabels, "a retry of the first"), retry.Ref);

        Assert.Equal(1, client.ExpectMsg<ModelPublished>(Wait).Model.Version);
        Assert.Equal(1, retry.ExpectMsg<ModelPublished>(Wait).Model.Version);
        registry.Tell(ListModels.Instance);
        Assert.Equal([1], ExpectMsg<ModelList>(Wait).Models.Select(m => m.Version));
    }

    /// <summary>A store whose every call fails while <see cref="Down"/> (the database unreachable), else the SQLite store.</summary>
    private sealed class FlakyModelStore(IModelStore inner) : IModelStore
    {
        public volatile bool Down;

        public string Location => inner.Location;

        private Task<T> Call<T>(Func<Task<T>> call) =>
            Down ? Task.FromException<T>(new IOException("connection refused (database down)")) : call();

        public Task<ModelInfo> AddAsync(string name, byte[] onnx, int[] inputShape, string[] labels, string description, long createdAtMs, bool reuseLatestIdentical = false) =>
            Call(() => inner.AddAsync(name, onnx, inputShape, labels, description, createdAtMs, reuseLatestIdentical));
        public Task<IReadOnlyList<ModelInfo>> ListAsync() => Call(inner.ListAsync);
        public Task<IReadOnlyList<string>> NamesAsync() => Call(inner.NamesAsync);
        public Task<ModelInfo?> GetAsync(string name, int version) => Call(() => inner.GetAsync(name, version));
        public Task<byte[]?> ReadBytesAsync(string name, int version, long offset, int count) => Call(() => inner.ReadBytesAsync(name, version, offset, count));
        public Task<ModelPolicy> PolicyAsync(string name) => Call(() => inner.PolicyAsync(name));
        public Task<ModelInfo?> ActiveAsync(string name) => Call(() => inner.ActiveAsync(name));
        public Task SetPinnedAsync(string name, int version) => Call(async () => { await inner.SetPinnedAsync(name, version); return 0; });
        public void Dispose() => inner.Dispose();
    }

    [Fact]
    public void A_store_failure_should_be_answered_as_a_rejection_and_the_registry_should_serve_once_it_is_back()
    {
        FlakyModelStore? store = null;
        var pubsub = CreateTestProbe();
        var settings = new RegistrySettings(_db.Path) { ValidationRuntime = InferenceRuntimeSettings.Default };
        var registry = Sys.ActorOf(ModelRegistryActor.Props(settings, pubsub.Ref, s => store = new FlakyModelStore(new ModelStore(s.DatabasePath))));
        Watch(registry);
        var (onnx, _, _) = TestModels.Linear(16, 5);
        Publish(registry, pubsub, "m", onnx, 1);

        store!.Down = true;
        registry.Tell(GetActiveModels.Instance);
        Assert.Contains("registry storage failure", ExpectMsg<ModelCommandRejected>(Wait).Reason);
        registry.Tell(new SetModelPolicy("m", 1));
        Assert.Contains("registry storage failure", ExpectMsg<ModelCommandRejected>(Wait).Reason);
        registry.Tell(new PublishModel("m", TestModels.Linear(16, 5, seed: 2).Onnx, [16], FiveLabels, "v2"));
        Assert.Contains("database down", ExpectMsg<ModelCommandRejected>(Wait).Reason);

        store.Down = false; // the asker retries: the same registry (no restart) answers from the kept state
        registry.Tell(GetActiveModels.Instance);
        Assert.Equal(1, Assert.Single(ExpectMsg<ActiveModels>(Wait).Models).Version);
        registry.Tell(new SetModelPolicy("m", 1));
        Assert.Equal(1, ExpectMsg<ModelPolicyChanged>(Wait).Policy.PinnedVersion);
        ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // not Terminated
    }
}
