using Akka.Configuration;

namespace EdgeActors.Actors.Twins;

/// <summary>Where the twin store keeps its data.</summary>
public enum TwinStoreKind
{
    Sqlite,
    Postgres,
}

/// <summary>
/// Device twins and commands (<c>edgeactors.twins</c>, defaults in hocon/base.conf):
/// <code>
/// twins {
///   kind = sqlite                 # sqlite | postgres: where the datacenter's twin store singleton keeps twins and commands
///   database-path = "twins.db"    # sqlite: relative paths are under the node's data directory; on one machine every datacenter node
///                                 # that may host the singleton opens the same file (several machines: edgeactors.datacenter.postgres)
///   postgres-connection = ""      # postgres: the Npgsql connection string
///   default-command-ttl = 1h      # a command sent without a time to live waits this long for the device
///   max-command-ttl = 7d          # the longest time to live a command may ask for
///   max-commands = 100            # commands kept per device: finished ones beyond this are dropped, oldest first
///   max-properties = 64           # properties per twin side (desired, reported)
///   max-name-length = 128         # characters of a property or command name
///   max-value-length = 4096       # characters of a property value, a command payload or result
///   store-timeout = 10s           # a device entity waits this long for the twin store to load or save
///   max-in-flight = 16            # loads and saves the twin store runs at once (the rest wait in its mailbox order)
/// }
/// </code>
/// </summary>
public sealed record TwinSettings
{
    public const string Section = "edgeactors.twins";

    public TwinStoreKind Kind { get; init; } = TwinStoreKind.Sqlite;

    public string DatabasePath { get; init; } = "twins.db";

    public string PostgresConnection { get; init; } = "";

    public TimeSpan DefaultCommandTtl { get; init; } = TimeSpan.FromHours(1);

    public TimeSpan MaxCommandTtl { get; init; } = TimeSpan.FromDays(7);

    public int MaxCommands { get; init; } = 100;

    public int MaxProperties { get; init; } = 64;

    public int MaxNameLength { get; init; } = 128;

    public int MaxValueLength { get; init; } = 4096;

    public TimeSpan StoreTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public int MaxInFlight { get; init; } = 16;

    public static TwinSettings Default { get; } = new();

    public static TwinSettings FromConfig(Config? section)
    {
        if (section is null || section.IsEmpty) return Default;
        var kind = section.GetString("kind", "sqlite");
        var s = new TwinSettings
        {
            Kind = kind switch
            {
                // empty: PostgreSQL when a connection string is given (or the tier's, see DatacenterSettings), else SQLite
                "" => string.IsNullOrWhiteSpace(section.GetString("postgres-connection", "")) ? TwinStoreKind.Sqlite : TwinStoreKind.Postgres,
                "sqlite" => TwinStoreKind.Sqlite,
                "postgres" => TwinStoreKind.Postgres,
                _ => throw new ArgumentException($"{Section}.kind must be sqlite or postgres, got '{kind}'"),
            },
            DatabasePath = section.GetString("database-path", Default.DatabasePath),
            PostgresConnection = section.GetString("postgres-connection", Default.PostgresConnection),
            DefaultCommandTtl = section.GetTimeSpan("default-command-ttl", Default.DefaultCommandTtl),
            MaxCommandTtl = section.GetTimeSpan("max-command-ttl", Default.MaxCommandTtl),
            MaxCommands = section.GetInt("max-commands", Default.MaxCommands),
            MaxProperties = section.GetInt("max-properties", Default.MaxProperties),
            MaxNameLength = section.GetInt("max-name-length", Default.MaxNameLength),
            MaxValueLength = section.GetInt("max-value-length", Default.MaxValueLength),
            StoreTimeout = section.GetTimeSpan("store-timeout", Default.StoreTimeout),
            MaxInFlight = section.GetInt("max-in-flight", Default.MaxInFlight),
        };
        return s.Validate();
    }

    public TwinSettings Validate()
    {
        if (Kind == TwinStoreKind.Sqlite && string.IsNullOrWhiteSpace(DatabasePath))
            throw new ArgumentException($"{Section}.database-path must not be empty");
        if (Kind == TwinStoreKind.Postgres && string.IsNullOrWhiteSpace(PostgresConnection))
            throw new ArgumentException($"{Section}.postgres-connection must be set when {Section}.kind = postgres");
        if (DefaultCommandTtl <= TimeSpan.Zero)
            throw new ArgumentException($"{Section}.default-command-ttl must be positive, got {DefaultCommandTtl}");
        if (MaxCommandTtl < DefaultCommandTtl)
            throw new ArgumentException($"{Section}.max-command-ttl must be >= default-command-ttl ({DefaultCommandTtl}), got {MaxCommandTtl}");
        if (MaxCommands < 1) throw new ArgumentException($"{Section}.max-commands must be >= 1, got {MaxCommands}");
        if (MaxProperties < 1) throw new ArgumentException($"{Section}.max-properties must be >= 1, got {MaxProperties}");
        if (MaxNameLength < 1) throw new ArgumentException($"{Section}.max-name-length must be >= 1, got {MaxNameLength}");
        if (MaxValueLength < 1 || MaxValueLength > 60_000)
            throw new ArgumentException($"{Section}.max-value-length must be within 1..60000 (a command travels in one 64 KiB message), got {MaxValueLength}");
        if (StoreTimeout <= TimeSpan.Zero || StoreTimeout > TimeSpan.FromMinutes(5))
            throw new ArgumentException($"{Section}.store-timeout must be between 0 and 5 minutes, got {StoreTimeout}");
        if (MaxInFlight < 1) throw new ArgumentException($"{Section}.max-in-flight must be >= 1, got {MaxInFlight}");
        return this;
    }
}
