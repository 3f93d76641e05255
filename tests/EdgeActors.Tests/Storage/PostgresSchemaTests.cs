using EdgeActors.Storage;
using Npgsql;

namespace EdgeActors.Tests.Storage;

/// <summary>The datacenter tier's versioned PostgreSQL migrations (<see cref="PostgresSchema"/>), on the test server.</summary>
public sealed class PostgresSchemaTests : IDisposable
{
    private readonly PostgresTestSchema _schema = new();

    public void Dispose() => _schema.Dispose();

    private long Rows(string sql) => Convert.ToInt64(_schema.Scalar(sql));

    [Fact]
    public async Task Migrations_run_twice_concurrently_should_end_with_one_row_per_version()
    {
        await using var a = NpgsqlDataSource.Create(_schema.ConnectionString);
        await using var b = NpgsqlDataSource.Create(_schema.ConnectionString);

        var applied = await Task.WhenAll(
            Task.Run(() => PostgresSchema.ApplyAsync(a)), Task.Run(() => PostgresSchema.ApplyAsync(b)),
            Task.Run(() => PostgresSchema.ApplyAsync(a)), Task.Run(() => PostgresSchema.ApplyAsync(b)));

        var count = PostgresSchema.Migrations.Count;
        Assert.Equal(count, applied.Sum()); // each migration applied by exactly one of the runs
        Assert.Equal(count, Rows("SELECT COUNT(*) FROM schema_migrations"));
        Assert.Equal(count, Rows("SELECT COUNT(DISTINCT version) FROM schema_migrations"));
        Assert.Equal(PostgresSchema.Migrations.Max(m => m.Version), Rows("SELECT MAX(version) FROM schema_migrations"));
        Assert.Equal(0, await PostgresSchema.ApplyAsync(a)); // and again: nothing left to do
    }

    [Fact]
    public async Task Every_store_should_find_the_whole_tier_schema_after_one_store_opened()
    {
        using (var data = new PostgresDataStore(_schema.ConnectionString))
            Assert.Equal(0, data.Count());

        foreach (var table in new[] { "records", "edges", "counters", "twins", "twin_commands", "models", "model_policies", "federation_experiments", "federation_rounds" })
            Assert.Equal(0L, Rows($"SELECT COUNT(*) FROM {table} WHERE false"));
        using var models = new PostgresModelStore(_schema.ConnectionString);
        Assert.Empty(await models.ListAsync());
        Assert.Equal(PostgresSchema.Migrations.Count, Rows("SELECT COUNT(*) FROM schema_migrations"));
    }

    [Fact]
    public async Task A_database_made_before_migrations_should_adopt_them()
    {
        // a data store schema created by an earlier release (no schema_migrations table): migration 1 keeps its rows
        await using (var c = new NpgsqlConnection(_schema.ConnectionString))
        {
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand(PostgresDataStore.Schema + "INSERT INTO edges VALUES ('e', 1, 2, 3);", c);
            await cmd.ExecuteNonQueryAsync();
        }

        using var store = new PostgresDataStore(_schema.ConnectionString);

        Assert.Equal(3, store.Lag().Single().Records);
        Assert.Equal(PostgresSchema.Migrations.Count, Rows("SELECT COUNT(*) FROM schema_migrations"));
    }
}
