using EdgeActors.Storage;

namespace EdgeActors.Tests.Storage;

public sealed class SqliteSequenceStoreTests
{
    [Fact]
    public void Saved_sequences_should_survive_a_reopen_and_never_go_down()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"ea-seq-{Guid.NewGuid():N}");
        var path = Path.Combine(dir, "sequences.db");
        try
        {
            using (var store = new SqliteSequenceStore(path))
            {
                Assert.Equal(0, store.Load("d1"));
                store.Save("d1", 10);
                store.Save("d1", 5);
                store.Save("d2", 3);
                Assert.Equal(10, store.Load("d1"));
                Assert.Equal(3, store.Load("d2"));
            }
            using var reopened = new SqliteSequenceStore(path);
            Assert.Equal(10, reopened.Load("d1"));
            Assert.Equal(3, reopened.Load("d2"));
            Assert.Equal(0, reopened.Load("d3"));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
