using EdgeActors.Storage;
using Akka.Configuration;

namespace EdgeActors.Actors.Sync;

public enum DataStoreKind
{
    Sqlite,
    Postgres,
}

/// <summary>
/// Which datacenter data store to open. HOCON section <c>edgeactors.store</c>:
/// <code>edgeactors.store { kind = sqlite | postgres, sqlite-path = "store.db", postgres-connection = "" }</code>
/// </summary>
public sealed record DataStoreSettings(DataStoreKind Kind, string SqlitePath, string PostgresConnection)
{
    public const string ConfigPath = "edgeactors.store";

    public static DataStoreSettings Default { get; } = new(DataStoreKind.Sqlite, "store.db", "");

    /// <summary>Reads the <c>edgeactors.store</c> section (null or missing keys: defaults); bad values name the key.</summary>
    public static DataStoreSettings FromConfig(Config? section)
    {
        if (section is null || section.IsEmpty) return Default;
        var kindText = (section.GetString("kind", "sqlite") ?? "sqlite").Trim();
        var kind = kindText.ToLowerInvariant() switch
        {
            // empty: PostgreSQL when a connection string is given (or the tier's, see DatacenterSettings), else SQLite
            "" => string.IsNullOrWhiteSpace(section.GetString("postgres-connection", "")) ? DataStoreKind.Sqlite : DataStoreKind.Postgres,
            "sqlite" => DataStoreKind.Sqlite,
            "postgres" or "postgresql" => DataStoreKind.Postgres,
            _ => throw new ArgumentException(
                $"{ConfigPath}.kind = '{kindText}' is not a data store kind; use sqlite or postgres", nameof(section)),
        };
        var sqlitePath = section.GetString("sqlite-path", Default.SqlitePath) ?? Default.SqlitePath;
        var postgres = section.GetString("postgres-connection", "") ?? "";
        if (kind == DataStoreKind.Sqlite && string.IsNullOrWhiteSpace(sqlitePath))
            throw new ArgumentException($"{ConfigPath}.sqlite-path is empty; kind = sqlite needs a database file path", nameof(section));
        if (kind == DataStoreKind.Postgres && string.IsNullOrWhiteSpace(postgres))
            throw new ArgumentException(
                $"{ConfigPath}.postgres-connection is empty; kind = postgres needs an Npgsql connection string", nameof(section));
        if (kind == DataStoreKind.Postgres)
        {
            try { _ = new Npgsql.NpgsqlConnectionStringBuilder(postgres); }
            catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
            {
                throw new ArgumentException($"{ConfigPath}.postgres-connection is not a valid connection string: {e.Message}", nameof(section), e);
            }
        }
        return new DataStoreSettings(kind, sqlitePath, postgres);
    }
}

public static class DataStoreFactory
{
    private static string Tracked(string path)
    {
        Observability.ResourceMetrics.Track("store", path);
        return path;
    }

    public static IDataStore Open(DataStoreSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.Kind switch
        {
            DataStoreKind.Sqlite => new SqliteDataStore(Tracked(settings.SqlitePath)),
            DataStoreKind.Postgres => new PostgresDataStore(settings.PostgresConnection),
            _ => throw new ArgumentException($"unknown data store kind {settings.Kind}", nameof(settings)),
        };
    }
}
