using Akka.Configuration;

namespace EdgeActors.Actors;

/// <summary>
/// Where the datacenter tier keeps its state: <c>edgeactors.datacenter.postgres</c>, one Npgsql connection string for
/// all of it (data store, model registry, federation state, twins and commands), or SQLite files per node (the default).
/// Per part, its section's <c>kind</c> (<c>sqlite</c> | <c>postgres</c> | empty) and <c>postgres-connection</c> stay valid;
/// the connection string each part uses is, in this order:
/// <list type="number">
/// <item>the tier setting, when set (a section that says <c>kind = sqlite</c>, or names another connection string, is
/// an error naming both keys);</item>
/// <item>else the section's <c>postgres-connection</c> when its kind is <c>postgres</c> or empty;</item>
/// <item>else none: the section's SQLite file.</item>
/// </list>
/// Every connection string is parsed here, so a bad one stops the node at start naming its key.
/// </summary>
public sealed record DatacenterSettings
{
    public const string PostgresKey = "edgeactors.datacenter.postgres";

    /// <summary>The sections whose state may live in PostgreSQL, by the part of the tier they hold.</summary>
    public const string StoreSection = "edgeactors.store";
    public const string RegistrySection = "edgeactors.registry";
    public const string FederationSection = "edgeactors.federated";
    public const string TwinsSection = "edgeactors.twins";

    /// <summary>The tier's connection string ("" when not set).</summary>
    public string Postgres { get; init; } = "";

    /// <summary>Per part: the PostgreSQL connection string it uses, "" for its SQLite file.</summary>
    public string StorePostgres { get; init; } = "";
    public string RegistryPostgres { get; init; } = "";
    public string FederationPostgres { get; init; } = "";
    public string TwinsPostgres { get; init; } = "";

    public static DatacenterSettings Default { get; } = new();

    public static DatacenterSettings FromConfig(Config? config)
    {
        if (config is null || config.IsEmpty) return Default;
        var tier = (config.GetString(PostgresKey, "") ?? "").Trim();
        if (tier.Length > 0) RequireConnectionString(PostgresKey, tier);
        return new DatacenterSettings
        {
            Postgres = tier,
            StorePostgres = Resolve(config, StoreSection, tier),
            RegistryPostgres = Resolve(config, RegistrySection, tier),
            FederationPostgres = Resolve(config, FederationSection, tier),
            TwinsPostgres = Resolve(config, TwinsSection, tier),
        };
    }

    /// <summary>The connection string <paramref name="section"/> uses, "" for SQLite (see the class summary for the order).</summary>
    internal static string Resolve(Config config, string section, string tier)
    {
        var kindKey = section + ".kind";
        var connectionKey = section + ".postgres-connection";
        var kindText = (config.GetString(kindKey, "") ?? "").Trim();
        var kind = kindText.ToLowerInvariant() switch
        {
            "" => "",
            "sqlite" => "sqlite",
            "postgres" or "postgresql" => "postgres",
            _ => throw new ArgumentException($"{kindKey} = '{kindText}' is not a store kind; use sqlite or postgres (or leave it empty)"),
        };
        var connection = (config.GetString(connectionKey, "") ?? "").Trim();
        if (tier.Length > 0)
        {
            if (kind == "sqlite")
                throw new ArgumentException(
                    $"{kindKey} = sqlite conflicts with {PostgresKey}: with the PostgreSQL tier set, all datacenter state lives in it; remove one of the two");
            if (connection.Length > 0 && connection != tier)
                throw new ArgumentException(
                    $"{connectionKey} names another database than {PostgresKey}: the datacenter state lives in one database; set only {PostgresKey}");
            return tier;
        }
        if (kind == "postgres" && connection.Length == 0)
            throw new ArgumentException($"{connectionKey} is empty; {kindKey} = postgres needs an Npgsql connection string (or set {PostgresKey})");
        if (kind == "sqlite" || connection.Length == 0) return "";
        RequireConnectionString(connectionKey, connection);
        return connection;
    }

    /// <summary>
    /// <paramref name="section"/> of <paramref name="config"/> with its <c>kind</c> and <c>postgres-connection</c> set to
    /// what this resolution chose (<paramref name="connection"/>: "" = sqlite), for the section's own settings reader.
    /// </summary>
    public static Config ResolvedSection(Config config, string section, string connection)
    {
        var resolved = connection.Length > 0
            ? $"kind = postgres\npostgres-connection = {Quote(connection)}"
            : "kind = sqlite\npostgres-connection = \"\"";
        var own = config.GetConfig(section);
        var overrides = ConfigurationFactory.ParseString(resolved);
        return own is null || own.IsEmpty ? overrides : overrides.WithFallback(own);
    }

    private static string Quote(string value) => "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    private static void RequireConnectionString(string key, string value)
    {
        try
        {
            var b = new Npgsql.NpgsqlConnectionStringBuilder(value);
            if (string.IsNullOrWhiteSpace(b.Host)) throw new ArgumentException("it names no Host");
        }
        catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
        {
            throw new ArgumentException($"{key} is not a valid Npgsql connection string: {e.Message}", e);
        }
    }
}
