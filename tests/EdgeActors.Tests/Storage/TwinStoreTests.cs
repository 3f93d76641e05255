using EdgeActors.Messages;
using EdgeActors.Storage;
using Npgsql;

namespace EdgeActors.Tests.Storage;

/// <summary>What every <see cref="ITwinStore"/> must do (SQLite files in a temp dir; PostgreSQL from EDGEACTORS_TEST_POSTGRES).</summary>
public abstract class TwinStoreContractTests : IDisposable
{
    private readonly List<ITwinStore> _open = [];

    protected abstract ITwinStore OpenCore();

    protected abstract void Cleanup();

    protected ITwinStore OpenStore()
    {
        var s = OpenCore();
        _open.Add(s);
        return s;
    }

    public void Dispose()
    {
        foreach (var s in _open) s.Dispose();
        Cleanup();
    }

    private static readonly DeviceId Device = new("edge-1/sensor-ü-01");

    private static DeviceTwin Twin(long desiredVersion, params (string Name, string Value)[] desired) =>
        new(Device, desired.Select(p => new TwinProperty(p.Name, p.Value, desiredVersion, 1_000 + desiredVersion)).ToArray(),
            [new TwinProperty("firmware", "1.2.3-β", 4, 77)], desiredVersion, 4);

    private static CommandStatus Command(string id, CommandState state, long created, long updated = 0) =>
        new(Device, id, "recalibrate", "{\"channel\": 2}", state, created, created + 3_600_000, updated == 0 ? created : updated,
            state == CommandState.Failed ? "no sensor 2" : "");

    [Fact]
    public void Load_should_return_an_empty_twin_for_an_unknown_device()
    {
        var store = OpenStore();

        var loaded = store.Load(new DeviceId("never-seen"));

        Assert.Equal(0, loaded.Twin.DesiredVersion);
        Assert.Equal(0, loaded.Twin.ReportedVersion);
        Assert.Empty(loaded.Twin.Desired);
        Assert.Empty(loaded.Commands);
    }

    [Fact]
    public void Saved_twin_and_commands_should_load_again_after_a_reopen()
    {
        var store = OpenStore();
        var twin = Twin(3, ("sampling-rate", "10"), ("mode-ü", "éco 🌿"), ("empty", ""));
        store.Save(twin, [Command("c1", CommandState.Pending, 10), Command("c2", CommandState.Delivered, 20)], maxCommands: 10);
        store.Dispose();

        var loaded = OpenStore().Load(Device);

        Assert.Equal(twin.DesiredVersion, loaded.Twin.DesiredVersion);
        Assert.Equal(twin.ReportedVersion, loaded.Twin.ReportedVersion);
        Assert.Equal(twin.Desired, loaded.Twin.Desired);
        Assert.Equal(twin.Reported, loaded.Twin.Reported);
        Assert.Equal([Command("c1", CommandState.Pending, 10), Command("c2", CommandState.Delivered, 20)], loaded.Commands);
    }

    [Fact]
    public void Save_should_replace_a_changed_command_and_keep_the_others()
    {
        var store = OpenStore();
        store.Save(Twin(1, ("a", "1")), [Command("c1", CommandState.Pending, 10), Command("c2", CommandState.Pending, 20)], 10);

        store.Save(Twin(2, ("a", "2")), [Command("c1", CommandState.Acknowledged, 10, updated: 30) with { Result = "ok" }], 10);

        var loaded = store.Load(Device);
        Assert.Equal("2", loaded.Twin.Desired.Single().Value);
        Assert.Equal(2, loaded.Commands.Length);
        Assert.Equal(CommandState.Acknowledged, loaded.Commands[0].State);
        Assert.Equal("ok", loaded.Commands[0].Result);
        Assert.Equal(CommandState.Pending, loaded.Commands[1].State);
    }

    [Fact]
    public void History_should_drop_the_oldest_finished_commands_beyond_the_limit_and_keep_pending_ones()
    {
        var store = OpenStore();
        var commands = new List<CommandStatus>
        {
            Command("p-old", CommandState.Pending, 1),          // oldest of all but pending: kept
            Command("f1", CommandState.Acknowledged, 2, 100),
            Command("f2", CommandState.Expired, 3, 101),
            Command("d1", CommandState.Delivered, 4),
            Command("f3", CommandState.Failed, 5, 102),
            Command("f4", CommandState.Acknowledged, 6, 103),
        };

        store.Save(Twin(1), commands, maxCommands: 4);

        var kept = store.Load(Device).Commands.Select(c => c.CommandId).ToArray();
        Assert.Equal(["p-old", "d1", "f3", "f4"], kept);
    }

    [Fact]
    public void History_should_keep_every_pending_command_even_beyond_the_limit()
    {
        var store = OpenStore();
        var pending = Enumerable.Range(0, 5).Select(i => Command("p" + i, CommandState.Pending, i + 1)).ToList();

        store.Save(Twin(1), pending, maxCommands: 2);

        Assert.Equal(5, store.Load(Device).Commands.Length);
    }

    [Fact]
    public void Save_should_store_nothing_when_it_fails_midway()
    {
        var store = OpenStore();
        store.Save(Twin(1, ("a", "1")), [Command("c1", CommandState.Pending, 10)], 10);

        // a command for another device is refused before anything is written
        var other = Command("c2", CommandState.Pending, 20) with { DeviceId = new DeviceId("someone-else") };
        Assert.Throws<ArgumentException>(() => store.Save(Twin(2, ("a", "2")), [other], 10));

        var loaded = store.Load(Device);
        Assert.Equal("1", loaded.Twin.Desired.Single().Value);
        Assert.Single(loaded.Commands);
    }

    [Fact]
    public void Devices_should_not_see_each_others_twins_or_commands()
    {
        var store = OpenStore();
        store.Save(Twin(1, ("a", "1")), [Command("c1", CommandState.Pending, 10)], 10);
        var other = new DeviceId("edge-2/cam-1");
        store.Save(DeviceTwin.Empty(other) with { DesiredVersion = 9 }, [], 10);

        Assert.Equal(9, store.Load(other).Twin.DesiredVersion);
        Assert.Empty(store.Load(other).Commands);
        Assert.Single(store.Load(Device).Commands);
    }
}

public sealed class SqliteTwinStoreTests : TwinStoreContractTests
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgeactors-twins-" + Guid.NewGuid().ToString("N"));

    protected override ITwinStore OpenCore() => new SqliteTwinStore(Path.Combine(_dir, "sub", "twins.db"));

    protected override void Cleanup()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void Two_stores_on_one_file_should_see_each_others_writes()
    {
        var a = OpenStore();
        var b = OpenStore();

        a.Save(DeviceTwin.Empty(new DeviceId("d")) with { DesiredVersion = 5 }, [], 10);

        Assert.Equal(5, b.Load(new DeviceId("d")).Twin.DesiredVersion);
    }
}

public sealed class PostgresTwinStoreTests : TwinStoreContractTests
{
    private readonly string _schema = "tw_" + Guid.NewGuid().ToString("N");
    private string? _admin;

    protected override ITwinStore OpenCore()
    {
        if (_admin is null)
        {
            var admin = Environment.GetEnvironmentVariable(Store.PostgresDataStoreTests.EnvVar) is { Length: > 0 } cs
                ? cs
                : throw new InvalidOperationException(
                    $"{Store.PostgresDataStoreTests.EnvVar} is not set: the PostgreSQL twin store tests need a server " +
                    "(`export EDGEACTORS_TEST_POSTGRES=\"$(bash scripts/postgres-setup.sh | tail -n 1)\"`)");
            using (var c = new NpgsqlConnection(admin))
            {
                c.Open();
                using var cmd = new NpgsqlCommand($"CREATE SCHEMA {_schema}", c);
                cmd.ExecuteNonQuery();
            }
            _admin = admin;
        }
        return new PostgresTwinStore(new NpgsqlConnectionStringBuilder(_admin) { SearchPath = _schema }.ConnectionString);
    }

    protected override void Cleanup()
    {
        if (_admin is null) return;
        NpgsqlConnection.ClearAllPools();
        using var c = new NpgsqlConnection(_admin);
        c.Open();
        using var cmd = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {_schema} CASCADE", c);
        cmd.ExecuteNonQuery();
    }
}
