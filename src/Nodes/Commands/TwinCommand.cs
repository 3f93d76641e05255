using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using EdgeActors.Client;
using EdgeActors.Messages;

namespace EdgeActors.Nodes.Commands;

/// <summary>
/// <c>twin get|set</c> and <c>command send|list</c>: device twins and cloud-to-device commands through the client library
/// (docs/twins.md). Setting desired values and sending commands need a token with scope admin, reading them scope query.
/// </summary>
public static class TwinCommand
{
    private static readonly Option<string[]> Contacts = CliOptions.Contacts();
    private static readonly CertsCommand.ClientOptions Credentials = new();
    private static readonly Option<bool> Json = CliOptions.Flag("--json", "print the answer as JSON");
    private static readonly Option<string[]> Remove = CliOptions.Many("--remove", "desired property to remove (repeatable)", "NAME");
    private static readonly Option<string?> Ttl = CliOptions.Text("--ttl", "how long the command may wait for the device, e.g. 90s, 10m, 2h (default: the cluster's edgeactors.twins.default-command-ttl)", "DURATION");
    private static readonly Option<string?> Id = CliOptions.Text("--id", "the command's id (a resend with the same id is the same command); default: a new one", "ID");

    private static Argument<string> DeviceArgument() => new("device") { Description = "the device id, e.g. edge-1/sensor-01" };

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public static Command CreateTwin()
    {
        var twin = new Command("twin", "a device's twin: desired properties (set by apps) and reported ones (set by the device)");
        var device = DeviceArgument();
        var get = Cli.Command("get", """
            print a device's twin: desired and reported properties with their versions, and the delta (desired values the
            device has not reported yet)
            """, [Contacts, Json, .. Credentials.All], args => GetAsync(args, device));
        get.Arguments.Add(device);
        twin.Subcommands.Add(get);

        var setDevice = DeviceArgument();
        var values = new Argument<string[]>("name=value") { Description = "desired properties to set", Arity = ArgumentArity.ZeroOrMore };
        var set = Cli.Command("set", """
            set (or with --remove, remove) desired properties of a device; kept durably and delivered to the device when it
            connects (token scope admin)
            """, [Contacts, Remove, Json, .. Credentials.All], args => SetAsync(args, setDevice, values));
        set.Arguments.Add(setDevice);
        set.Arguments.Add(values);
        twin.Subcommands.Add(set);
        return twin;
    }

    public static Command CreateCommand()
    {
        var command = new Command("command", "cloud-to-device commands: queued durably per device with a time to live, acknowledged by the device");
        var device = DeviceArgument();
        var name = new Argument<string>("name") { Description = "the command's name, e.g. recalibrate" };
        var payload = new Argument<string>("payload") { Description = "what the device needs to carry it out (text, often JSON)", Arity = ArgumentArity.ZeroOrOne, DefaultValueFactory = _ => "" };
        var send = Cli.Command("send", """
            send a command to a device: pending until the device is connected, then delivered, then acknowledged (or failed)
            by the device, or expired when its time to live passes (token scope admin)
            """, [Contacts, Ttl, Id, Json, .. Credentials.All], args => SendAsync(args, device, name, payload));
        send.Arguments.Add(device);
        send.Arguments.Add(name);
        send.Arguments.Add(payload);
        command.Subcommands.Add(send);

        var listDevice = DeviceArgument();
        var list = Cli.Command("list", "a device's recent commands, oldest first, with their states", [Contacts, Json, .. Credentials.All],
            args => ListAsync(args, listDevice));
        list.Arguments.Add(listDevice);
        command.Subcommands.Add(list);
        return command;
    }

    private static EdgeClient Connect(ParseResult args) => EdgeClient.Connect(new EdgeClientOptions
    {
        Contacts = args.GetValue(Contacts)!, Credentials = Credentials.From(args), RequestTimeout = TimeSpan.FromSeconds(5), RetryDeadline = TimeSpan.FromSeconds(20),
    });

    private static async Task<int> Run(string what, Func<Task> body)
    {
        try
        {
            await body();
            return 0;
        }
        catch (EdgeClientException ex)
        {
            Console.Error.WriteLine($"{what}: {ex.Message}");
            return 1;
        }
    }

    private static async Task<int> GetAsync(ParseResult args, Argument<string> device)
    {
        var id = new DeviceId(args.GetValue(device)!);
        await using var client = Connect(args);
        return await Run("twin get", async () => WriteTwin(await client.GetTwinAsync(id), args.GetValue(Json)));
    }

    private static async Task<int> SetAsync(ParseResult args, Argument<string> device, Argument<string[]> values)
    {
        var id = new DeviceId(args.GetValue(device)!);
        var properties = ParseValues(args.GetValue(values) ?? [], args.GetValue(Remove) ?? []);
        await using var client = Connect(args);
        return await Run("twin set", async () => WriteTwin(await client.SetDesiredAsync(id, properties), args.GetValue(Json)));
    }

    private static async Task<int> SendAsync(ParseResult args, Argument<string> device, Argument<string> name, Argument<string> payload)
    {
        var id = new DeviceId(args.GetValue(device)!);
        var ttl = args.GetValue(Ttl) is { } t ? ParseDuration(t, "--ttl") : (TimeSpan?)null;
        await using var client = Connect(args);
        return await Run("command send", async () =>
        {
            var status = await client.SendCommandAsync(id, args.GetValue(name)!, args.GetValue(payload) ?? "", ttl, args.GetValue(Id));
            if (args.GetValue(Json)) Console.WriteLine(JsonSerializer.Serialize(ToJson(status), JsonOptions));
            else Console.WriteLine(Describe(status));
        });
    }

    private static async Task<int> ListAsync(ParseResult args, Argument<string> device)
    {
        var id = new DeviceId(args.GetValue(device)!);
        await using var client = Connect(args);
        return await Run("command list", async () =>
        {
            var commands = await client.GetCommandsAsync(id);
            if (args.GetValue(Json))
            {
                Console.WriteLine(JsonSerializer.Serialize(commands.Select(ToJson).ToArray(), JsonOptions));
                return;
            }
            Console.WriteLine($"device {id}: {commands.Length} command(s)");
            foreach (var c in commands) Console.WriteLine("  " + Describe(c));
        });
    }

    /// <summary><c>name=value</c> arguments and <c>--remove name</c> options as one update; a bad one is a <see cref="CliException"/>.</summary>
    public static TwinValue[] ParseValues(IEnumerable<string> assignments, IEnumerable<string> removals)
    {
        var result = new List<TwinValue>();
        foreach (var a in assignments)
        {
            var eq = a.IndexOf('=');
            if (eq <= 0) throw new CliException($"'{a}' is not name=value (e.g. sampling-rate=10)");
            result.Add(new TwinValue(a[..eq], a[(eq + 1)..]));
        }
        foreach (var r in removals)
        {
            if (string.IsNullOrWhiteSpace(r)) throw new CliException("--remove needs a property name");
            result.Add(new TwinValue(r, "", Remove: true));
        }
        if (result.Count == 0) throw new CliException("nothing to set: give name=value arguments or --remove NAME");
        return result.ToArray();
    }

    /// <summary>A duration such as 500ms, 90s, 10m, 2h or 1d (a plain number is seconds).</summary>
    public static TimeSpan ParseDuration(string text, string option)
    {
        var t = text.Trim();
        var unit = t.EndsWith("ms", StringComparison.Ordinal) ? "ms" : t.Length > 0 && char.IsLetter(t[^1]) ? t[^1..] : "s";
        var number = t.EndsWith(unit, StringComparison.Ordinal) ? t[..^unit.Length] : t;
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n <= 0 || double.IsInfinity(n))
            throw new CliException($"{option} '{text}' is not a positive duration (e.g. 90s, 10m, 2h)");
        return unit switch
        {
            "ms" => TimeSpan.FromMilliseconds(n),
            "s" => TimeSpan.FromSeconds(n),
            "m" => TimeSpan.FromMinutes(n),
            "h" => TimeSpan.FromHours(n),
            "d" => TimeSpan.FromDays(n),
            _ => throw new CliException($"{option} '{text}': unknown unit '{unit}' (ms, s, m, h, d)"),
        };
    }

    private static string Time(long ms) => ms <= 0 ? "-" : DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + "Z";

    public static string Describe(CommandStatus c) =>
        $"{c.CommandId} {c.Name} [{c.State}] created {Time(c.CreatedAt)}, expires {Time(c.ExpiresAt)}, updated {Time(c.UpdatedAt)}" +
        (c.Payload.Length > 0 ? $", payload {c.Payload}" : "") + (c.Result.Length > 0 ? $", result {c.Result}" : "");

    private static void WriteTwin(DeviceTwin t, bool json)
    {
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                device = t.DeviceId.Value,
                desiredVersion = t.DesiredVersion,
                reportedVersion = t.ReportedVersion,
                desired = t.Desired.ToDictionary(p => p.Name, p => new { value = p.Value, version = p.Version, updatedAt = p.UpdatedAt }),
                reported = t.Reported.ToDictionary(p => p.Name, p => new { value = p.Value, version = p.Version, updatedAt = p.UpdatedAt }),
                delta = t.Delta().ToDictionary(p => p.Name, p => p.Value),
            }, JsonOptions));
            return;
        }
        Console.WriteLine($"device {t.DeviceId}");
        Console.WriteLine($"  desired (version {t.DesiredVersion}):");
        foreach (var p in t.Desired) Console.WriteLine($"    {p.Name} = {p.Value}   (v{p.Version}, {Time(p.UpdatedAt)})");
        Console.WriteLine($"  reported (version {t.ReportedVersion}):");
        foreach (var p in t.Reported) Console.WriteLine($"    {p.Name} = {p.Value}   (v{p.Version}, {Time(p.UpdatedAt)})");
        var delta = t.Delta();
        Console.WriteLine(delta.Length == 0 ? "  delta: none (the device reported every desired value)" : $"  delta: {string.Join(", ", delta.Select(p => $"{p.Name}={p.Value}"))}");
    }

    private static object ToJson(CommandStatus c) => new
    {
        device = c.DeviceId.Value, id = c.CommandId, name = c.Name, payload = c.Payload, state = c.State.ToString().ToLowerInvariant(),
        createdAt = c.CreatedAt, expiresAt = c.ExpiresAt, updatedAt = c.UpdatedAt, result = c.Result,
    };
}
