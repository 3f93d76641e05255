using EdgeActors.Storage;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Registry;
using EdgeActors.Inference.Runtime;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Registry;

public sealed class ModelStoreTests : IDisposable
{
    private readonly TempDatabase _db = new();

    public void Dispose() => _db.Dispose();

    private static byte[] Bytes(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Fact]
    public void Add_should_assign_increasing_versions_and_round_trip_metadata()
    {
        using var store = new ModelStore(_db.Path);
        var a1 = Bytes(1_000, 1);

        var v1 = store.Add("fmnist-mlp", a1, [1, 28, 28], ["t-shirt", "trouser, pants", "☂"], "first", 1_735_689_600_000);
        var v2 = store.Add("fmnist-mlp", Bytes(10, 2), [784], ["a"], "", 1_735_689_600_001);
        var other = store.Add("other.model_1", Bytes(5, 3), [4], ["x", "y"], "other", 7);

        Assert.True(File.Exists(_db.Path));
        Assert.Equal(1, v1.Version);
        Assert.Equal(2, v2.Version);
        Assert.Equal(1, other.Version);
        Assert.Equal(OnnxModel.Sha256(a1), v1.Sha256);
        Assert.Equal(1_000, v1.SizeBytes);
        var back = store.Get("fmnist-mlp", 1)!;
        Assert.Equal([1, 28, 28], back.InputShape);
        Assert.Equal(["t-shirt", "trouser, pants", "☂"], back.Labels);
        Assert.Equal((v1.Name, v1.Version, v1.Sha256, v1.SizeBytes, v1.CreatedAtMs, v1.Description),
            (back.Name, back.Version, back.Sha256, back.SizeBytes, back.CreatedAtMs, back.Description));
        Assert.Null(store.Get("fmnist-mlp", 3));
        Assert.Null(store.Get("missing", 1));
        Assert.Equal(["fmnist-mlp/1", "fmnist-mlp/2", "other.model_1/1"], store.List().Select(i => $"{i.Name}/{i.Version}"));
        Assert.Equal(a1, store.ReadBytes("fmnist-mlp", 1, 0, int.MaxValue));
    }

    [Fact]
    public void Policy_should_follow_the_latest_unless_pinned()
    {
        using var store = new ModelStore(_db.Path);
        Assert.Null(store.Active("m"));
        Assert.Equal(new ModelPolicy("m", 0, 0), store.Policy("m"));
        store.Add("m", Bytes(8, 1), [2], ["a"], "", 1);
        store.Add("m", Bytes(8, 2), [2], ["a"], "", 2);

        Assert.Equal(2, store.Active("m")!.Version);
        Assert.Equal(new ModelPolicy("m", 2, 0), store.Policy("m"));

        store.SetPinned("m", 1);
        store.Add("m", Bytes(8, 3), [2], ["a"], "", 3);
        Assert.Equal(1, store.Active("m")!.Version); // a new version does not move a pinned model
        Assert.Equal(new ModelPolicy("m", 1, 1), store.Policy("m"));
        Assert.True(store.Policy("m").IsPinned);

        store.SetPinned("m", 0);
        Assert.Equal(3, store.Active("m")!.Version);
        Assert.False(store.Policy("m").IsPinned);

        Assert.Throws<ArgumentException>(() => store.SetPinned("m", 9));
        Assert.Throws<ArgumentOutOfRangeException>(() => store.SetPinned("m", -1));
    }

    [Fact]
    public void Store_should_survive_reopening_the_file()
    {
        var bytes = Bytes(4_321, 5);
        using (var store = new ModelStore(_db.Path))
        {
            store.Add("m", Bytes(8, 1), [2], ["a"], "one", 1);
            store.Add("m", bytes, [3, 2], ["a", "b"], "two", 2);
            store.SetPinned("m", 2);
            store.Add("m", Bytes(8, 3), [2], ["a"], "three", 3);
        }

        using var reopened = new ModelStore(_db.Path);

        Assert.Equal(3, reopened.List().Count);
        Assert.Equal(new ModelPolicy("m", 2, 2), reopened.Policy("m"));
        var active = reopened.Active("m")!;
        Assert.Equal("two", active.Description);
        Assert.Equal([3, 2], active.InputShape);
        Assert.Equal(bytes, reopened.ReadBytes("m", 2, 0, bytes.Length));
        Assert.Equal(4, reopened.Add("m", Bytes(8, 4), [2], ["a"], "four", 4).Version);
    }

    [Fact]
    public void Chunked_reads_should_reassemble_the_bytes()
    {
        using var store = new ModelStore(_db.Path);
        var bytes = Bytes(1_000_003, 9);
        var info = store.Add("big", bytes, [10], ["a"], "", 1);

        var assembled = new List<byte>();
        const int chunk = 256 * 1024;
        for (long offset = 0; offset < info.SizeBytes; )
        {
            var part = store.ReadBytes("big", 1, offset, chunk)!;
            Assert.True(part.Length is > 0 and <= chunk);
            assembled.AddRange(part);
            offset += part.Length;
        }

        Assert.Equal(info.Sha256, OnnxModel.Sha256(assembled.ToArray()));
        Assert.Empty(store.ReadBytes("big", 1, info.SizeBytes, chunk)!);
        Assert.Null(store.ReadBytes("big", 2, 0, chunk));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Upper")]
    [InlineData("has space")]
    [InlineData("slash/name")]
    [InlineData("ü")]
    public void Invalid_names_should_be_refused(string name)
    {
        using var store = new ModelStore(_db.Path);

        Assert.NotNull(ModelStore.ValidateName(name));
        Assert.Throws<ArgumentException>(() => store.Add(name, [1], [1], ["a"], "", 1));
        Assert.Null(store.Active(name));
    }

    [Fact]
    public void Name_validation_should_accept_64_allowed_characters_and_no_more()
    {
        Assert.Null(ModelStore.ValidateName("a0._-z9"));
        Assert.Null(ModelStore.ValidateName(new string('x', 64)));
        Assert.NotNull(ModelStore.ValidateName(new string('x', 65)));
    }
}
