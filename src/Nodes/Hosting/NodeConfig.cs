using Akka.Configuration;
using EdgeActors.Actors;
using EdgeActors.Actors.Devices;
using EdgeActors.Client.Security;
using EdgeActors.Messages;

namespace EdgeActors.Nodes.Hosting;

/// <summary>What the command line says about a node; null means "not given".</summary>
public sealed record NodeOptions
{
    public IReadOnlyList<string>? Roles { get; init; }
    public string? Host { get; init; }
    public int? Port { get; init; }
    public IReadOnlyList<string>? Seeds { get; init; }
    public IReadOnlyList<string> ConfigFiles { get; init; } = [];
    /// <summary>Raw HOCON lines (<c>--set key=value</c>), highest precedence.</summary>
    public IReadOnlyList<string> Sets { get; init; } = [];
    public string? HoconDirectory { get; init; }
    public string? DataDirectory { get; init; }
    /// <summary><c>--certs DIR</c>: a directory made by <c>edgeactors certs</c>; turns on TLS and client tokens.</summary>
    public string? CertsDirectory { get; init; }
    /// <summary><c>--cert-name NAME</c>: which node certificate in the certs directory (nodes/NAME.pfx).</summary>
    public string? CertName { get; init; }
    /// <summary>The edge's site name (<c>edgeactors.node.site</c>): published as cluster role <c>site:&lt;name&gt;</c>.</summary>
    public string? Site { get; init; }
}

/// <summary>
/// Builds a node's configuration: hocon/base.conf, then one file per role, then extra --config files,
/// then EDGEACTORS_* environment variables, then CLI flags and --set lines (each layer overrides the previous).
/// </summary>
public static class NodeConfig
{
    public static string DefaultHoconDirectory(IReadOnlyDictionary<string, string?> env) =>
        env.GetValueOrDefault("EDGEACTORS_HOCON_DIR") ?? Path.Combine(AppContext.BaseDirectory, "hocon");

    public static IReadOnlyDictionary<string, string?> ProcessEnvironment()
    {
        var d = new Dictionary<string, string?>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            d[(string)e.Key] = e.Value as string;
        return d;
    }

    public static (Config Config, IReadOnlyList<string> Roles) Build(NodeOptions cli, IReadOnlyDictionary<string, string?> env)
    {
        var roles = cli.Roles ?? SplitList(env.GetValueOrDefault("EDGEACTORS_ROLES")) ?? [Roles.Seed, Roles.Edge, Roles.Datacenter];
        foreach (var r in roles)
            if (!Roles.IsUserRole(r))
                throw new CliException($"unknown role '{r}'; roles are {string.Join(", ", Roles.UserRoles)}");
        if (roles.Count == 0) throw new CliException("a node needs at least one role");

        var dir = cli.HoconDirectory ?? DefaultHoconDirectory(env);
        var basePath = Path.Combine(dir, "base.conf");
        if (!File.Exists(basePath)) throw new CliException($"configuration not found: {basePath} (set --hocon-dir or EDGEACTORS_HOCON_DIR)");

        // lowest precedence first
        var layers = new List<Config> { ConfigurationFactory.ParseString(File.ReadAllText(basePath)) };
        foreach (var role in roles)
        {
            var rolePath = Path.Combine(dir, role + ".conf");
            if (File.Exists(rolePath)) layers.Add(ConfigurationFactory.ParseString(File.ReadAllText(rolePath)));
        }
        foreach (var file in cli.ConfigFiles)
        {
            if (!File.Exists(file)) throw new CliException($"--config file not found: {file}");
            layers.Add(ConfigurationFactory.ParseString(File.ReadAllText(file)));
        }
        layers.Add(Overrides(
            env.GetValueOrDefault("EDGEACTORS_HOST"),
            ParsePort(env.GetValueOrDefault("EDGEACTORS_PORT"), "EDGEACTORS_PORT"),
            SplitList(env.GetValueOrDefault("EDGEACTORS_SEEDS"))));
        layers.Add(Overrides(cli.Host, cli.Port, cli.Seeds));
        var dataDir = cli.DataDirectory ?? env.GetValueOrDefault("EDGEACTORS_DATA_DIR");
        if (!string.IsNullOrEmpty(dataDir)) layers.Add(ConfigurationFactory.ParseString($"edgeactors.node.data-dir = {Quote(Path.GetFullPath(dataDir))}"));
        var siteFlag = cli.Site ?? env.GetValueOrDefault("EDGEACTORS_SITE");
        if (siteFlag is not null) layers.Add(ConfigurationFactory.ParseString($"edgeactors.node.site = {Quote(siteFlag)}"));

        if (cli.CertsDirectory is not null) layers.Add(CertsLayer(cli.CertsDirectory, cli.CertName));
        else if (cli.CertName is not null) throw new CliException("--cert-name needs --certs DIR");

        var clusterRoles = roles.ToList();
        if (roles.Contains(Roles.Edge) || roles.Contains(Roles.Datacenter)) clusterRoles.Add(Roles.Gateway);
        layers.Add(ConfigurationFactory.ParseString(
            $"akka.cluster.roles = [{string.Join(", ", clusterRoles.Select(Quote))}]\nedgeactors.node.roles = [{string.Join(", ", roles.Select(Quote))}]"));
        foreach (var set in cli.Sets)
        {
            try
            {
                layers.Add(ConfigurationFactory.ParseString(set));
            }
            catch (Exception ex)
            {
                throw new CliException($"--set '{set}' is not valid HOCON: {ex.Message}");
            }
        }

        var config = layers[^1];
        for (var i = layers.Count - 2; i >= 0; i--) config = config.WithFallback(layers[i]);
        var site = config.GetString("edgeactors.node.site", "") ?? "";
        if (site.Length > 0)
        {
            if (!Sites.IsValidName(site))
                throw new CliException($"edgeactors.node.site = '{site}' is invalid: 1..{Sites.MaxNameLength} of letters, digits, '-', '_', '.'");
            if (roles.Contains(Roles.Edge))
            {
                var withSite = config.GetStringList("akka.cluster.roles").Append(Sites.Role(site));
                config = ConfigurationFactory.ParseString($"akka.cluster.roles = [{string.Join(", ", withSite.Select(Quote))}]").WithFallback(config);
            }
        }
        return (WithTlsSeeds(config), roles);
    }

    /// <summary>With TLS on, Akka's addresses use the akka.ssl.tcp scheme: seed addresses written as akka.tcp are rewritten.</summary>
    private static Config WithTlsSeeds(Config config)
    {
        if (!TlsOn(config)) return config;
        var seeds = config.GetStringList("akka.cluster.seed-nodes").Select(s => s.Replace("akka.tcp://", "akka.ssl.tcp://", StringComparison.Ordinal));
        return ConfigurationFactory.ParseString($"akka.cluster.seed-nodes = [{string.Join(", ", seeds.Select(Quote))}]").WithFallback(config);
    }

    public static bool TlsOn(Config config) => Actors.Security.SecuritySettings.FromConfig(config.GetConfig(Actors.Security.SecuritySettings.Section)).Tls;

    private static Config CertsLayer(string dir, string? name)
    {
        var full = Path.GetFullPath(dir);
        if (!File.Exists(Path.Combine(full, Certificates.CaCertificateFile)))
            throw new CliException($"--certs: {full} holds no {Certificates.CaCertificateFile} (make one with 'edgeactors certs --out {dir}')");
        if (name is null)
        {
            var nodes = System.IO.Directory.Exists(Path.Combine(full, Certificates.NodesDirectory))
                ? System.IO.Directory.GetFiles(Path.Combine(full, Certificates.NodesDirectory), "*.pfx")
                : [];
            if (nodes.Length != 1)
                throw new CliException($"--certs: {full} holds {nodes.Length} node certificates; say which with --cert-name NAME (nodes/NAME.pfx)");
            name = Path.GetFileNameWithoutExtension(nodes[0]);
        }
        return ConfigurationFactory.ParseString($$"""
            edgeactors.security {
              tls = on
              client-tokens = on
              ca-certificate = {{Quote(Path.Combine(full, Certificates.CaCertificateFile))}}
              certificate = {{Quote(Certificates.NodeCertificatePath(full, name))}}
              token-key = {{Quote(Path.Combine(full, Certificates.TokenKeyFile))}}
            }
            """);
    }

    private static Config Overrides(string? host, int? port, IReadOnlyList<string>? seeds)
    {
        var lines = new List<string>();
        if (host is not null) lines.Add($"akka.remote.dot-netty.tcp.hostname = {Quote(host)}");
        if (port is not null) lines.Add($"akka.remote.dot-netty.tcp.port = {port}");
        if (seeds is not null) lines.Add($"akka.cluster.seed-nodes = [{string.Join(", ", seeds.Select(s => Quote(WellKnown.NodeAddress(s))))}]");
        return lines.Count == 0 ? Config.Empty : ConfigurationFactory.ParseString(string.Join("\n", lines));
    }

    /// <summary>The node's data directory: <c>edgeactors.node.data-dir</c>, else <c>.data/node-&lt;port&gt;</c>; created.</summary>
    public static string DataDirectory(Config config)
    {
        var dir = config.GetString("edgeactors.node.data-dir", "");
        if (string.IsNullOrWhiteSpace(dir)) dir = Path.Combine(".data", $"node-{config.GetInt("akka.remote.dot-netty.tcp.port")}");
        dir = Path.GetFullPath(dir);
        System.IO.Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>A configured file path: absolute as given, relative ones under the node's data directory.</summary>
    public static string DataPath(Config config, string path) =>
        Path.IsPathRooted(path) ? path : Path.Combine(DataDirectory(config), path);

    private static int? ParsePort(string? raw, string what)
    {
        if (string.IsNullOrEmpty(raw)) return null;
        return int.TryParse(raw, out var p) && p is >= 0 and <= 65535 ? p : throw new CliException($"{what}: '{raw}' is not a port number");
    }

    public static IReadOnlyList<string>? SplitList(string? raw) =>
        string.IsNullOrWhiteSpace(raw) ? null : raw.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
