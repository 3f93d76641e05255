using System.CommandLine;
using EdgeActors.Nodes.Data;
using EdgeActors.Messages;
using EdgeActors.Client;

namespace EdgeActors.Nodes.Commands;

public static class ModelsCommand
{
    private static readonly Option<string[]> Contacts = CliOptions.Contacts();
    private static readonly CertsCommand.ClientOptions Credentials = new();
    private static readonly Option<string?> Name = new("--name") { Description = "the model's name", HelpName = "NAME", Required = true };
    private static readonly Option<string?> File = new("--file") { Description = "the ONNX file", HelpName = "FILE", Required = true };
    private static readonly Option<string?> InputShape = new("--input-shape") { Description = "the input's shape, e.g. 784 or 3,224,224", HelpName = "N,N,...", Required = true };
    private static readonly Option<string[]?> Labels = CliOptions.List("--labels", "the class labels (or --fashion-labels)", "A,B,...");
    private static readonly Option<bool> FashionLabels = CliOptions.Flag("--fashion-labels", "the ten Fashion-MNIST class names as labels");
    private static readonly Option<string?> Description = CliOptions.Text("--description", "free text (default the file's name)", "TEXT");
    private static readonly Option<int> Version = new("--version") { Description = "the version to serve everywhere", HelpName = "N", Required = true };

    public static Command Create()
    {
        var models = new Command("models", """
            the model registry: list, publish, rollback, pin, latest
            The registry lives on the datacenter (SQLite); edges learn of the active version, fetch it, load it, warm it
            up and swap it in while requests keep being served. A model that fails to load is rejected with the reason.
            """);
        Command Sub(string name, string description, Option[] options, Func<ParseResult, EdgeClient, Task<int>> action) =>
            Cli.Command(name, description, [.. options, Contacts, .. Credentials.All], r => RunAsync(r, name, action));
        models.Subcommands.Add(Sub("list", "the registered models and versions, and which is active", [], List));
        models.Subcommands.Add(Sub("publish", "publish a new version of a model", [Name, File, InputShape, Labels, FashionLabels, Description], Publish));
        models.Subcommands.Add(Sub("rollback", "pin the version before the active one", [Name], Rollback));
        models.Subcommands.Add(Sub("pin", "serve version N everywhere", [Name, Version], Pin));
        models.Subcommands.Add(Sub("latest", "follow the newest version again", [Name], Latest));
        return models;
    }

    private static async Task<int> RunAsync(ParseResult args, string sub, Func<ParseResult, EdgeClient, Task<int>> action)
    {
        var contacts = args.GetValue(Contacts)!;
        var credentials = Credentials.From(args);
        await using var client = EdgeClient.Connect(new EdgeClientOptions { Contacts = contacts, Credentials = credentials, RetryDeadline = TimeSpan.FromSeconds(30) });
        try
        {
            return await action(args, client);
        }
        catch (EdgeClientException ex)
        {
            Console.Error.WriteLine($"models {sub}: {ex.Message}");
            return 1;
        }
    }

    private static async Task<int> List(ParseResult args, EdgeClient client)
    {
        Print(await client.ListModelsAsync());
        return 0;
    }

    private static async Task<int> Publish(ParseResult args, EdgeClient client)
    {
        var name = args.GetValue(Name)!;
        var file = args.GetValue(File)!;
        var shape = args.GetValue(InputShape)!
            .Split(',').Select(d => int.TryParse(d, out var v) && v > 0 ? v : throw new CliException($"--input-shape: '{d}' is not a positive integer")).ToArray();
        var labels = args.GetValue(FashionLabels)
            ? Data.FashionMnist.ClassNames
            : args.GetValue(Labels) ?? throw new CliException("--labels a,b,c or --fashion-labels is required");
        var description = args.GetValue(Description) ?? Path.GetFileName(file);
        if (!System.IO.File.Exists(file)) throw new CliException($"--file not found: {file}");
        var published = await client.PublishModelAsync(new PublishModel(name, await System.IO.File.ReadAllBytesAsync(file), shape, labels, description));
        Console.WriteLine($"published {published.Model.Name} v{published.Model.Version} ({published.Model.SizeBytes:N0} bytes, sha256 {published.Model.Sha256[..12]}…){(published.Active ? ", now active" : ", not active (a version is pinned)")}");
        return 0;
    }

    private static async Task<int> Rollback(ParseResult args, EdgeClient client)
    {
        var name = args.GetValue(Name)!;
        var changed = await client.RollbackModelAsync(name);
        Console.WriteLine($"{name}: rolled back; serving v{changed.Active.Version} (pinned)");
        return 0;
    }

    private static async Task<int> Pin(ParseResult args, EdgeClient client)
    {
        var name = args.GetValue(Name)!;
        var version = args.GetValue(Version);
        if (version <= 0) throw new CliException("--version must be a positive version number");
        var changed = await client.SetModelPolicyAsync(name, version);
        Console.WriteLine($"{name}: pinned to v{changed.Active.Version}");
        return 0;
    }

    private static async Task<int> Latest(ParseResult args, EdgeClient client)
    {
        var name = args.GetValue(Name)!;
        var changed = await client.SetModelPolicyAsync(name, 0);
        Console.WriteLine($"{name}: following the latest version; serving v{changed.Active.Version}");
        return 0;
    }

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
