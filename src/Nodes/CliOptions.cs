using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace EdgeActors.Nodes;

/// <summary>
/// The options every command builds from (System.CommandLine): typed values with their defaults and descriptions, so
/// help is generated from them and bad values are errors that name the option. Ports and host:port lists are parsed here
/// and nowhere else.
/// </summary>
public static class CliOptions
{
    /// <summary>The contacts a client command connects to when --contacts is not given: the demo's edges and datacenter.</summary>
    public static readonly string[] DefaultContacts = ["127.0.0.1:4054", "127.0.0.1:4055", "127.0.0.1:4056"];

    public static Option<int> Int(string name, int fallback, string description) =>
        new(name)
        {
            Description = description, DefaultValueFactory = _ => fallback, HelpName = "N",
            CustomParser = r => ParseInt(name, r),
        };

    public static Option<double> Double(string name, double fallback, string description, string helpName = "X") =>
        new(name)
        {
            Description = description, DefaultValueFactory = _ => fallback, HelpName = helpName,
            CustomParser = r => ParseDouble(name, r),
        };

    public static Option<string> Text(string name, string fallback, string description, string helpName = "VALUE") =>
        new(name) { Description = description, DefaultValueFactory = _ => fallback, HelpName = helpName };

    /// <summary>An optional text value: null when not given.</summary>
    public static Option<string?> Text(string name, string description, string helpName = "VALUE") =>
        new(name) { Description = description, HelpName = helpName };

    /// <summary>One of the given values.</summary>
    public static Option<string> Choice(string name, string fallback, string description, params string[] values)
    {
        var o = new Option<string>(name) { Description = description, DefaultValueFactory = _ => fallback, HelpName = string.Join('|', values) };
        o.AcceptOnlyFromAmong(values);
        return o;
    }

    /// <summary>A flag without a value (<c>--name</c>; <c>--name false</c> turns it off again).</summary>
    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };

    /// <summary>A comma-separated list (<c>--name a,b,c</c>); null when not given.</summary>
    public static Option<string[]?> List(string name, string description, string helpName = "A,B,...") =>
        new(name) { Description = description, HelpName = helpName, CustomParser = r => SplitList(r.Tokens[^1].Value) };

    /// <summary>A repeatable option: every <c>--name value</c> adds one value, in order.</summary>
    public static Option<string[]> Many(string name, string description, string helpName = "VALUE") =>
        new(name)
        {
            Description = description, HelpName = helpName, DefaultValueFactory = _ => [],
            Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = false,
        };

    /// <summary>A TCP port (0-65535); null when not given.</summary>
    public static Option<int?> Port(string name, string description) =>
        new(name) { Description = description, HelpName = "PORT", CustomParser = r => ParsePort(name, r) };

    /// <summary>A TCP port (0-65535) with a default.</summary>
    public static Option<int> Port(string name, int fallback, string description) =>
        new(name) { Description = description, HelpName = "PORT", DefaultValueFactory = _ => fallback, CustomParser = r => ParsePort(name, r) ?? fallback };

    /// <summary><c>host:port,...</c> (or full node addresses <c>akka.tcp://…@host:port</c>); null when not given.</summary>
    public static Option<string[]?> HostPorts(string name, string description) =>
        new(name) { Description = description, HelpName = "HOST:PORT,...", CustomParser = r => ParseHostPorts(name, r) };

    /// <summary><c>--contacts host:port,...</c>: the nodes a client command connects to (default the demo's edges and datacenter).</summary>
    public static Option<string[]> Contacts(string description = "edge or datacenter nodes the client connects to") =>
        new("--contacts")
        {
            Description = description, HelpName = "HOST:PORT,...", DefaultValueFactory = _ => DefaultContacts,
            CustomParser = r => ParseHostPorts("--contacts", r) ?? DefaultContacts,
        };

    /// <summary>A port, or null (with an error naming the option) when it is not one.</summary>
    public static bool TryParsePort(string s, out int port) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 0 and <= 65535;

    /// <summary><c>host:port</c> with a valid port, or a full node address.</summary>
    public static bool IsHostPort(string s)
    {
        if (s.Contains("://", StringComparison.Ordinal)) return true;
        var colon = s.LastIndexOf(':');
        return colon > 0 && TryParsePort(s[(colon + 1)..], out _);
    }

    public static string[]? SplitList(string? raw) =>
        string.IsNullOrWhiteSpace(raw) ? null : raw.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static int? ParsePort(string name, ArgumentResult r)
    {
        var s = r.Tokens[^1].Value;
        if (TryParsePort(s, out var p)) return p;
        r.AddError($"{name}: '{s}' is not a port number (0-65535)");
        return null;
    }

    private static string[]? ParseHostPorts(string name, ArgumentResult r)
    {
        var list = SplitList(r.Tokens[^1].Value);
        foreach (var hp in list ?? [])
        {
            if (IsHostPort(hp)) continue;
            r.AddError($"{name}: '{hp}' is not host:port (a host name or address, a colon, a port number 0-65535)");
            return null;
        }
        return list;
    }

    private static int ParseInt(string name, ArgumentResult r)
    {
        var s = r.Tokens[^1].Value;
        if (int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i)) return i;
        r.AddError($"{name}: '{s}' is not a whole number");
        return 0;
    }

    private static double ParseDouble(string name, ArgumentResult r)
    {
        var s = r.Tokens[^1].Value;
        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) return d;
        r.AddError($"{name}: '{s}' is not a number");
        return 0;
    }
}
