using EdgeActors.Storage;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Registry;
using EdgeActors.Inference.Runtime;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Registry;

/// <summary>What every <see cref="IModelStore"/> must do: <see cref="SqliteModelStoreTests"/>, <see cref="PostgresModelStoreTests"/>.</summary>
public abstract class ModelStoreContractTests : IDisposable
{
    private readonly List<IModelStore> _opened = [];

    /// <summary>A (new) store on this test's own database; a second call opens the same database again.</summary>
    protected abstract IModelStore OpenCore();

    protected abstract void Cleanup();

    protected IModelStore Open()
    {
        var store = OpenCore();
        _opened.Add(store);
        return store;
    }

    public void Dispose()
    {
        foreach (var s in _opened) s.Dispose();
        Cleanup();
        GC.SuppressFinalize(this);
    }

    private static byte[] Bytes(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Fact]
    public async Task Add_should_assign_increasing_versions_and_round_trip_metadata()
    {
        var store = Open();
        var a1 = Bytes(1_000, 1);

        var v1 = await store.AddAsync("fmnist-mlp", a1, [1, 28, 28], ["t-shirt", "trouser, pants", "☂"], "first", 1_735_689_600_000);
        var v2 = await store.AddAsync("fmnist-mlp", Bytes(10, 2), [784], ["a"], "", 1_735_689_600_001);
        var other = await store.AddAsync("other.model_1", Bytes(5, 3), [4], ["x", "y"], "other", 7);

        Assert.Equal(1, v1.Version);
        Assert.Equal(2, v2.Version);
        Assert.Equal(1, other.Version);
        Assert.Equal(OnnxModel.Sha256(a1), v1.Sha256);
        Assert.Equal(1_000, v1.SizeBytes);
        var back = (await store.GetAsync("fmnist-mlp", 1))!;
        Assert.Equal([1, 28, 28], back.InputShape);
        Assert.Equal(["t-shirt", "trouser, pants", "☂"], back.Labels);
        Assert.Equal((v1.Name, v1.Version, v1.Sha256, v1.SizeBytes, v1.CreatedAtMs, v1.Description),
            (back.Name, back.Version, back.Sha256, back.SizeBytes, back.CreatedAtMs, back.Description));
        Assert.Null(await store.GetAsync("fmnist-mlp", 3));
        Assert.Null(await store.GetAsync("missing", 1));
        Assert.Equal(["fmnist-mlp/1", "fmnist-mlp/2", "other.model_1/1"], (await store.ListAsync()).Select(i => $"{i.Name}/{i.Version}"));
        Assert.Equal(a1, await store.ReadBytesAsync("fmnist-mlp", 1, 0, int.MaxValue));
    }

    [Fact]
    public async Task Policy_should_follow_the_latest_unless_pinned()
    {
        var store = Open();
        Assert.Null(await store.ActiveAsync("m"));
        Assert.Equal(new ModelPolicy("m", 0, 0), await store.PolicyAsync("m"));
        await store.AddAsync("m", Bytes(8, 1), [2], ["a"], "", 1);
        await store.AddAsync("m", Bytes(8, 2), [2], ["a"], "", 2);

        Assert.Equal(2, (await store.ActiveAsync("m"))!.Version);
        Assert.Equal(new ModelPolicy("m", 2, 0), await store.PolicyAsync("m"));

        await store.SetPinnedAsync("m", 1);
        await store.AddAsync("m", Bytes(8, 3), [2], ["a"], "", 3);
        Assert.Equal(1, (await store.ActiveAsync("m"))!.Version); // a new version does not move a pinned model
        Assert.Equal(new ModelPolicy("m", 1, 1), await store.PolicyAsync("m"));
        Assert.True((await store.PolicyAsync("m")).IsPinned);

        await store.SetPinnedAsync("m", 0);
        Assert.Equal(3, (await store.ActiveAsync("m"))!.Version);
        Assert.False((await store.PolicyAsync("m")).IsPinned);

        await Assert.ThrowsAsync<ArgumentException>(() => store.SetPinnedAsync("m", 9));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.SetPinnedAsync("m", -1));
    }

    [Fact]
    public async Task Store_should_survive_reopening_the_database()
    {
        var bytes = Bytes(4_321, 5);
        var store = Open();
        {
            await store.AddAsync("m", Bytes(8, 1), [2], ["a"], "one", 1);
            await store.AddAsync("m", bytes, [3, 2], ["a", "b"], "two", 2);
            await store.SetPinnedAsync("m", 2);
            await store.AddAsync("m", Bytes(8, 3), [2], ["a"], "three", 3);
        }

        var reopened = Open();

        Assert.Equal(3, (await reopened.ListAsync()).Count);
        Assert.Equal(new ModelPolicy("m", 2, 2), await reopened.PolicyAsync("m"));
        var active = (await reopened.ActiveAsync("m"))!;
        Assert.Equal("two", active.Description);
        Assert.Equal([3, 2], active.InputShape);
        Assert.Equal(bytes, await reopened.ReadBytesAsync("m", 2, 0, bytes.Length));
        Assert.Equal(4, (await reopened.AddAsync("m", Bytes(8, 4), [2], ["a"], "four", 4)).Version);
    }

    [Fact]
    public async Task Chunked_reads_should_reassemble_the_bytes()
    {
        var store = Open();
        var bytes = Bytes(1_000_003, 9);
        var info = await store.AddAsync("big", bytes, [10], ["a"], "", 1);

        var assembled = new List<byte>();
        const int chunk = 256 * 1024;
        for (long offset = 0; offset < info.SizeBytes; )
        {
            var part = (await store.ReadBytesAsync("big", 1, offset, chunk))!;
            Assert.True(part.Length is > 0 and <= chunk);
            assembled.AddRange(part);
            offset += part.Length;
        }

        Assert.Equal(info.Sha256, OnnxModel.Sha256(assembled.ToArray()));
        Assert.Empty((await store.ReadBytesAsync("big", 1, info.SizeBytes, chunk))!);
        Assert.Null(await store.ReadBytesAsync("big", 2, 0, chunk));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Upper")]
    [InlineData("has space")]
    [InlineData("slash/name")]
    [InlineData("ü")]
    public async Task Invalid_names_should_be_refused(string name)
    {
        var store = Open();

        Assert.NotNull(ModelStore.ValidateName(name));
        await Assert.ThrowsAsync<ArgumentException>(() => store.AddAsync(name, [1], [1], ["a"], "", 1));
        Assert.Null(await store.ActiveAsync(name));
    }

    [Fact]
    public void Name_validation_should_accept_64_allowed_characters_and_no_more()
    {
        Assert.Null(ModelStore.ValidateName("a0._-z9"));
        Assert.Null(ModelStore.ValidateName(new string('x', 64)));
        Assert.NotNull(ModelStore.ValidateName(new string('x', 65)));
    }
}

public sealed class SqliteModelStoreTests : ModelStoreContractTests
{
    private readonly TempDatabase _db = new();

    protected override IModelStore OpenCore() => new ModelStore(_db.Path);

    protected override void Cleanup() => _db.Dispose();

    [Fact]
    public void Opening_should_create_the_file_and_its_directory()
    {
        Open();
        Assert.True(File.Exists(_db.Path));
    }
}

public sealed class PostgresModelStoreTests : ModelStoreContractTests
{
    private readonly Lazy<EdgeActors.Tests.Storage.PostgresTestSchema> _schema = new(() => new EdgeActors.Tests.Storage.PostgresTestSchema());

    protected override IModelStore OpenCore() => new PostgresModelStore(_schema.Value.ConnectionString);

    protected override void Cleanup()
    {
        if (_schema.IsValueCreated) _schema.Value.Dispose();
    }

    [Fact]
    public async Task Concurrent_adds_of_one_model_should_get_distinct_versions()
    {
        var a = Open();
        var b = Open();
        var adds = Enumerable.Range(0, 8).Select(i => (i % 2 == 0 ? a : b).AddAsync("m", [(byte)i, 1, 2], [3], ["x"], $"#{i}", i)).ToArray();

        var versions = (await Task.WhenAll(adds)).Select(i => i.Version).Order().ToArray();

        Assert.Equal(Enumerable.Range(1, 8), versions);
    }

    [Fact]
    public void Opening_should_not_touch_the_server()
    {
        // nothing listens on port 1: the store opens, and only a call fails (the registry answers it as a failure)
        using var store = new PostgresModelStore("Host=127.0.0.1;Port=1;Username=u;Password=p;Database=d;Timeout=2");
        Assert.ThrowsAny<Exception>(() => store.ListAsync().GetAwaiter().GetResult());
    }
}
