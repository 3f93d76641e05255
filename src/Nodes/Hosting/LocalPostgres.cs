using System.Diagnostics;
using System.Text;
using Npgsql;

namespace EdgeActors.Nodes.Hosting;

/// <summary>
/// A PostgreSQL server of its own in a directory (initdb, pg_ctl), for tests that stop, start, kill and fail it over
/// without touching a shared server: listens on 127.0.0.1 and a Unix socket in its directory, trust authentication for
/// the superuser <see cref="User"/> (replication included), <c>wal_level = replica</c> so a standby can be made from it
/// (<see cref="CreateStandbyAsync"/>). Run as root, every PostgreSQL program runs as the <c>postgres</c> user
/// (<c>runuser -u postgres --</c>) and the directory is given to it. The binaries are found under
/// <c>/usr/lib/postgresql/*/bin</c> or in <c>EDGEACTORS_PG_BIN</c>.
/// </summary>
public sealed class LocalPostgres : IDisposable
{
    public const string User = "edgeactors";
    public const string BinVariable = "EDGEACTORS_PG_BIN";

    private readonly string _bin;

    public string Directory { get; }
    public string DataDirectory => Path.Combine(Directory, "data");
    public string LogPath => Path.Combine(Directory, "postgres.log");
    public string SocketDirectory => Path.Combine(Directory, "sock");
    public int Port { get; }

    private LocalPostgres(string bin, string directory, int port)
    {
        _bin = bin;
        Directory = directory;
        Port = port;
    }

    /// <summary>Where the PostgreSQL programs are, or null (with why) when none are installed.</summary>
    public static string? FindBinaries(out string why)
    {
        why = "";
        if (Environment.GetEnvironmentVariable(BinVariable) is { Length: > 0 } env)
        {
            if (File.Exists(Path.Combine(env, "initdb"))) return env;
            why = $"{BinVariable}={env} has no initdb";
            return null;
        }
        var root = "/usr/lib/postgresql";
        var found = System.IO.Directory.Exists(root)
            ? System.IO.Directory.GetDirectories(root).Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "initdb")))
                .OrderByDescending(d => d, StringComparer.Ordinal).FirstOrDefault()
            : null;
        if (found is null) why = $"no PostgreSQL server programs (initdb) under {root}/*/bin; install postgresql or set {BinVariable}";
        return found;
    }

    private static string Bin() => FindBinaries(out var why) ?? throw new InvalidOperationException(why);

    /// <summary>A new server in <paramref name="directory"/> (made empty first), initialised but not started.</summary>
    public static async Task<LocalPostgres> InitAsync(string directory, int port)
    {
        var pg = new LocalPostgres(Bin(), Prepare(directory), port);
        await pg.RunAsync("initdb", ["-D", pg.DataDirectory, "-U", User, "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
        await File.AppendAllTextAsync(Path.Combine(pg.DataDirectory, "pg_hba.conf"),
            "\nhost replication all 127.0.0.1/32 trust\nlocal replication all trust\n");
        await pg.ConfigureAsync(
            "wal_level = replica", "max_wal_senders = 5", "hot_standby = on", "max_connections = 200",
            // a test server: no fsync (a killed server process still loses nothing the OS has; the host is not crashed)
            "fsync = off", "full_page_writes = off", "shared_buffers = 32MB", "log_min_messages = warning");
        return pg;
    }

    /// <summary>
    /// A streaming-replication standby of the running <paramref name="primary"/> in <paramref name="directory"/>
    /// (<c>pg_basebackup -R -X stream</c>), on <paramref name="port"/>, not started. Its <c>application_name</c> is
    /// <c>standby</c> (for <c>synchronous_standby_names</c>).
    /// </summary>
    public static async Task<LocalPostgres> CreateStandbyAsync(LocalPostgres primary, string directory, int port)
    {
        var pg = new LocalPostgres(primary._bin, Prepare(directory), port);
        await pg.RunAsync("pg_basebackup", ["-h", "127.0.0.1", "-p", primary.Port.ToString(), "-U", User, "-D", pg.DataDirectory, "-R", "-X", "stream",
            "-d", $"host=127.0.0.1 port={primary.Port} user={User} application_name=standby"]);
        return pg;
    }

    private static string Prepare(string directory)
    {
        if (System.IO.Directory.Exists(directory)) System.IO.Directory.Delete(directory, recursive: true);
        System.IO.Directory.CreateDirectory(directory);
        System.IO.Directory.CreateDirectory(Path.Combine(directory, "sock"));
        return directory;
    }

    private static bool Root => Environment.UserName == "root";

    /// <summary>Appends settings to the server's postgresql.conf (later lines win); the port and socket are always this server's.</summary>
    public async Task ConfigureAsync(params string[] lines)
    {
        var all = lines.Concat([$"port = {Port}", "listen_addresses = '127.0.0.1'", $"unix_socket_directories = '{SocketDirectory}'"]);
        await File.AppendAllTextAsync(Path.Combine(DataDirectory, "postgresql.conf"), "\n" + string.Join("\n", all) + "\n");
        if (Root) await RunAsync("chown", ["-R", "postgres:postgres", Directory], tool: true);
    }

    /// <summary>Starts the server and waits until it accepts connections.</summary>
    public async Task StartAsync()
    {
        await ConfigureAsync(); // the port and socket (a standby's copied configuration names the primary's)
        await RunAsync("pg_ctl", ["-D", DataDirectory, "-l", LogPath, "-w", "-t", "60", "start"]);
    }

    /// <summary><c>pg_ctl stop -m fast</c> (sessions ended, clean shutdown) or <c>immediate</c> (no shutdown checkpoint: a crash).</summary>
    public Task StopAsync(bool immediate = false) =>
        RunAsync("pg_ctl", ["-D", DataDirectory, "-m", immediate ? "immediate" : "fast", "-w", "-t", "60", "stop"]);

    /// <summary>Promotes a standby to primary and waits until it is.</summary>
    public Task PromoteAsync() => RunAsync("pg_ctl", ["-D", DataDirectory, "-w", "-t", "60", "promote"]);

    /// <summary>A connection string to <paramref name="database"/> on this server.</summary>
    public string ConnectionString(string database = "postgres") =>
        new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = User, Database = database }.ConnectionString;

    /// <summary>Runs one statement on this server (as the superuser, database postgres unless named).</summary>
    public async Task<object?> ScalarAsync(string sql, string database = "postgres")
    {
        await using var c = new NpgsqlConnection(ConnectionString(database) + ";Pooling=false");
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        return await cmd.ExecuteScalarAsync();
    }

    private async Task RunAsync(string program, IReadOnlyList<string> args, bool tool = false)
    {
        var exe = tool ? program : Path.Combine(_bin, program);
        var psi = Root && !tool ? new ProcessStartInfo("runuser") : new ProcessStartInfo(exe);
        if (Root && !tool)
        {
            if (!File.Exists(Path.Combine(Directory, ".owned")))
            {
                await RunAsync("chown", ["-R", "postgres:postgres", Directory], tool: true);
                await File.WriteAllTextAsync(Path.Combine(Directory, ".owned"), "");
            }
            foreach (var a in new[] { "-u", "postgres", "--", exe }) psi.ArgumentList.Add(a);
        }
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        psi.WorkingDirectory = Directory;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {program}");
        var output = new StringBuilder();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await p.WaitForExitAsync(cts.Token);
        output.Append(await stdout).Append(await stderr);
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} exited with {p.ExitCode}: {output}" +
                (File.Exists(LogPath) ? $"\nserver log {LogPath}" : ""));
    }

    /// <summary>Stops the server at once if it runs (its directory is kept for the logs).</summary>
    public void Dispose()
    {
        try
        {
            if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid"))) StopAsync(immediate: true).GetAwaiter().GetResult();
        }
        catch (InvalidOperationException)
        {
            // not running
        }
    }
}
