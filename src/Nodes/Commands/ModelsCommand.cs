using EdgeActors.Nodes.Data;
using EdgeActors.Messages;
using EdgeActors.Client;

namespace EdgeActors.Nodes.Commands;

public static class ModelsCommand
{
    public const string Usage = """
        edgeactors models list [--contacts host:port,...]
        edgeactors models publish --name NAME --file model.onnx --input-shape 784 [--labels a,b,c | --fashion-labels] [--description TEXT]
        edgeactors models rollback --name NAME        pin the version before the active one
        edgeactors models pin --name NAME --version N  serve version N everywhere
        edgeactors models latest --name NAME           follow the newest version again
          The registry lives on the datacenter (SQLite); edges learn of the active version, fetch it, load it, warm it
          up and swap it in while requests keep being served. A model that fails to load is rejected with the reason.
        """;

    public static async Task<int> RunAsync(CliArgs args)
    {
        var sub = args.Positional.FirstOrDefault() ?? throw new CliException("models: say list, publish, rollback, pin or latest");
        var contacts = args.Contacts();
        var credentials = CertsCommand.ClientCredentialsFrom(args);
        await using var client = EdgeClient.Connect(new EdgeClientOptions { Contacts = contacts, Credentials = credentials, RetryDeadline = TimeSpan.FromSeconds(30) });
        try
        {
            switch (sub)
            {
                case "list":
                {
                    args.EnsureAllUsed();
                    var list = await client.ListModelsAsync();
                    Print(list);
                    return 0;
                }
                case "publish":
                {
                    var name = Required(args, "name");
                    var file = Required(args, "file");
                    var shape = (args.Get("input-shape") ?? throw new CliException("--input-shape is required (e.g. 784 or 3,224,224)"))
                        .Split(',').Select(d => int.TryParse(d, out var v) && v > 0 ? v : throw new CliException($"--input-shape: '{d}' is not a positive integer")).ToArray();
                    var labels = args.Flag("fashion-labels")
                        ? Data.FashionMnist.ClassNames
                        : args.Get("labels")?.Split(',') ?? throw new CliException("--labels a,b,c or --fashion-labels is required");
                    var description = args.Get("description", Path.GetFileName(file));
                    args.EnsureAllUsed();
                    if (!File.Exists(file)) throw new CliException($"--file not found: {file}");
                    var published = await client.PublishModelAsync(new PublishModel(name, await File.ReadAllBytesAsync(file), shape, labels, description));
                    Console.WriteLine($"published {published.Model.Name} v{published.Model.Version} ({published.Model.SizeBytes:N0} bytes, sha256 {published.Model.Sha256[..12]}…){(published.Active ? ", now active" : ", not active (a version is pinned)")}");
                    return 0;
                }
                case "rollback":
                {
                    var name = Required(args, "name");
                    args.EnsureAllUsed();
                    var changed = await client.RollbackModelAsync(name);
                    Console.WriteLine($"{name}: rolled back; serving v{changed.Active.Version} (pinned)");
                    return 0;
                }
                case "pin":
                {
                    var name = Required(args, "name");
                    var version = args.Int("version", 0);
                    args.EnsureAllUsed();
                    if (version <= 0) throw new CliException("--version must be a positive version number");
                    var changed = await client.SetModelPolicyAsync(name, version);
                    Console.WriteLine($"{name}: pinned to v{changed.Active.Version}");
                    return 0;
                }
                case "latest":
                {
                    var name = Required(args, "name");
                    args.EnsureAllUsed();
                    var changed = await client.SetModelPolicyAsync(name, 0);
                    Console.WriteLine($"{name}: following the latest version; serving v{changed.Active.Version}");
                    return 0;
                }
                default:
                    throw new CliException($"models: unknown subcommand '{sub}'; use list, publish, rollback, pin or latest");
            }
        }
        catch (EdgeClientException ex)
        {
            Console.Error.WriteLine($"models {sub}: {ex.Message}");
            return 1;
        }
    }

    private static string Required(CliArgs args, string name) => args.Get(name) ?? throw new CliException($"--{name} is required");

    public static void Print(ModelList list)
    {
        if (list.Models.Length == 0)
        {
            Console.WriteLine("no models registered");
            return;
        }
        foreach (var group in list.Models.GroupBy(m => m.Name).OrderBy(g => g.Key))
        {
            var policy = list.Policies.FirstOrDefault(p => p.Name == group.Key);
            Console.WriteLine($"{group.Key}: {(policy is { IsPinned: true } ? $"pinned to v{policy.PinnedVersion}" : "latest")}, active v{policy?.ActiveVersion}");
            foreach (var m in group.OrderBy(m => m.Version))
                Console.WriteLine($"  v{m.Version,-3} {(m.Version == policy?.ActiveVersion ? "*" : " ")} input [{string.Join(",", m.InputShape)}] {m.Labels.Length} labels {m.SizeBytes,12:N0} bytes  sha256 {m.Sha256[..12]}…  {DateTimeOffset.FromUnixTimeMilliseconds(m.CreatedAtMs):yyyy-MM-dd HH:mm:ss}Z  {m.Description}");
        }
    }
}
