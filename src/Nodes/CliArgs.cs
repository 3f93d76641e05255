namespace EdgeActors.Nodes;

/// <summary>Minimal GNU-style argument reader: <c>--name value</c>, <c>--name=value</c>, repeatable options, flags.</summary>
public sealed class CliArgs
{
    private readonly Dictionary<string, List<string>> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    /// <summary>--contacts host:port,...: the nodes a client command connects to (default the demo's edges and datacenter).</summary>
    public IReadOnlyList<string> Contacts() =>
        Hosting.NodeConfig.SplitList(Get("contacts")) ?? ["127.0.0.1:4054", "127.0.0.1:4055", "127.0.0.1:4056"];

    public IReadOnlyList<string> Positional { get; }

    public CliArgs(IEnumerable<string> args, IReadOnlySet<string>? flags = null)
    {
        var positional = new List<string>();
        var list = args.ToList();
        for (var i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (!a.StartsWith("--", StringComparison.Ordinal) || a == "--")
            {
                positional.Add(a);
                continue;
            }
            var name = a[2..];
            string value;
            var eq = name.IndexOf('=');
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            else if (flags?.Contains(name) == true)
            {
                value = "true";
            }
            else if (i + 1 < list.Count && !list[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                value = list[++i];
            }
            else
            {
                value = "true";
            }
            if (!_options.TryGetValue(name, out var values)) _options[name] = values = [];
            values.Add(value);
        }
        Positional = positional;
    }

    public string? Get(string name)
    {
        _used.Add(name);
        return _options.TryGetValue(name, out var v) ? v[^1] : null;
    }

    public IReadOnlyList<string> GetAll(string name)
    {
        _used.Add(name);
        return _options.TryGetValue(name, out var v) ? v : [];
    }

    public string Get(string name, string fallback) => Get(name) ?? fallback;

    public bool Flag(string name) => Get(name) is { } v && v != "false";

    public int Int(string name, int fallback) => Parse(name, fallback, int.TryParse);

    public double Double(string name, double fallback) =>
        Parse(name, fallback, (string s, out double d) => double.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out d));

    private delegate bool TryParser<T>(string s, out T value);

    private T Parse<T>(string name, T fallback, TryParser<T> parser)
    {
        var raw = Get(name);
        if (raw is null) return fallback;
        return parser(raw, out var v) ? v : throw new CliException($"--{name}: '{raw}' is not a valid {typeof(T).Name.ToLowerInvariant()}");
    }

    /// <summary>Fails on options nobody asked for, so a typo is an error and not a silent default.</summary>
    public void EnsureAllUsed()
    {
        var unknown = _options.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0) throw new CliException($"unknown option(s): {string.Join(", ", unknown.Select(u => "--" + u))}");
    }
}

public class CliException(string message) : Exception(message);
