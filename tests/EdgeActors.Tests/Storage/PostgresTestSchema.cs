using Npgsql;

namespace EdgeActors.Tests.Storage;

/// <summary>
/// A fresh PostgreSQL schema on the test server (EDGEACTORS_TEST_POSTGRES) for one test, dropped on dispose; the
/// connection strings it hands out have their search_path set to it. Fails with how to set the server up when the
/// variable is missing.
/// </summary>
internal sealed class PostgresTestSchema : IDisposable
{
    public string Schema { get; } = "t_" + Guid.NewGuid().ToString("N");

    public string Admin { get; }

    public PostgresTestSchema()
    {
        Admin = Environment.GetEnvironmentVariable(PostgresDataStoreTests.EnvVar) is { Length: > 0 } cs
            ? cs
            : throw new InvalidOperationException(
                $"{PostgresDataStoreTests.EnvVar} is not set: the PostgreSQL store tests need a server " +
                "(`export EDGEACTORS_TEST_POSTGRES=\"$(bash scripts/postgres-setup.sh | tail -n 1)\"`)");
        Execute($"CREATE SCHEMA {Schema}");
    }

    /// <summary>A connection string whose tables live in this schema.</summary>
    public string ConnectionString => new NpgsqlConnectionStringBuilder(Admin) { SearchPath = Schema }.ConnectionString;

    public object? Scalar(string sql)
    {
        using var c = new NpgsqlConnection(ConnectionString);
        c.Open();
        using var cmd = new NpgsqlCommand(sql, c);
        return cmd.ExecuteScalar();
    }

    private void Execute(string sql)
    {
        using var c = new NpgsqlConnection(Admin);
        c.Open();
        using var cmd = new NpgsqlCommand(sql, c);
        cmd.ExecuteNonQuery();
    }

    public void Dispose()
    {
        NpgsqlConnection.ClearAllPools();
        Execute($"DROP SCHEMA IF EXISTS {Schema} CASCADE");
    }
}
