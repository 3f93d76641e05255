using Akka.Configuration;
using EdgeActors.Actors.Sync;

namespace EdgeActors.Tests.Storage;

public sealed class DataStoreSettingsTests
{
    private static Config Section(string hocon) => ConfigurationFactory.ParseString(hocon).GetConfig(DataStoreSettings.ConfigPath);

    [Fact]
    public void FromConfig_should_default_to_sqlite_when_missing()
    {
        Assert.Equal(DataStoreSettings.Default, DataStoreSettings.FromConfig(null));
        Assert.Equal(DataStoreKind.Sqlite, DataStoreSettings.Default.Kind);
        Assert.Equal("store.db", DataStoreSettings.Default.SqlitePath);
    }

    [Fact]
    public void FromConfig_should_read_every_key()
    {
        var s = DataStoreSettings.FromConfig(Section("""
            edgeactors.store { kind = postgres, sqlite-path = "/tmp/x.db", postgres-connection = "Host=db;Username=u;Password=p;Database=d" }
            """));
        Assert.Equal(new DataStoreSettings(DataStoreKind.Postgres, "/tmp/x.db", "Host=db;Username=u;Password=p;Database=d"), s);
    }

    [Theory]
    [InlineData("edgeactors.store { kind = mysql }", "edgeactors.store.kind")]
    [InlineData("edgeactors.store { kind = sqlite, sqlite-path = \"\" }", "edgeactors.store.sqlite-path")]
    [InlineData("edgeactors.store { kind = postgres }", "edgeactors.store.postgres-connection")]
    [InlineData("edgeactors.store { kind = postgres, postgres-connection = \"Nonsense=1\" }", "edgeactors.store.postgres-connection")]
    public void FromConfig_should_name_the_key_of_a_bad_value(string hocon, string key)
    {
        var e = Assert.Throws<ArgumentException>(() => DataStoreSettings.FromConfig(Section(hocon)));
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void Factory_should_open_a_sqlite_store()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgeactors-factory-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var store = DataStoreFactory.Open(DataStoreSettings.Default with { SqlitePath = Path.Combine(dir, "a", "s.db") });
            Assert.Equal("sqlite", store.Kind);
            Assert.True(File.Exists(Path.Combine(dir, "a", "s.db")));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }
}
