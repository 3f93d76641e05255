using System.Globalization;
using System.Text;

namespace EdgeActors.Tools.Evaluate;

/// <summary>One series' value in a scrape: metric name, labels, value.</summary>
public sealed record MetricSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    /// <summary>The series' identity: name and labels in a stable order (e.g. <c>a_total{kind="x",z="1"}</c>).</summary>
    public string Key => Labels.Count == 0 ? Name : Name + "{" + string.Join(",", Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}=\"{l.Value}\"")) + "}";

    public string? Label(string name) => Labels.TryGetValue(name, out var v) ? v : null;
}

/// <summary>One parsed /metrics answer: its samples and the declared type of each metric family.</summary>
public sealed class Scrape(IReadOnlyList<MetricSample> samples, IReadOnlyDictionary<string, string> types)
{
    public IReadOnlyList<MetricSample> Samples { get; } = samples;

    /// <summary>Metric family name to its <c># TYPE</c> (counter, gauge, histogram, summary, untyped).</summary>
    public IReadOnlyDictionary<string, string> Types { get; } = types;

    public IEnumerable<MetricSample> Named(string name) => Samples.Where(s => s.Name == name);

    /// <summary>The sum over the series of <paramref name="name"/> that pass <paramref name="where"/>; null when there is none.</summary>
    public double? Sum(string name, Func<MetricSample, bool>? where = null)
    {
        double sum = 0;
        var any = false;
        foreach (var s in Samples)
        {
            if (s.Name != name || (where is not null && !where(s))) continue;
            sum += s.Value;
            any = true;
        }
        return any ? sum : null;
    }
}

/// <summary>
/// Parser of the Prometheus text exposition format (version 0.0.4, and the OpenMetrics subset the OpenTelemetry exporter
/// writes): <c># TYPE</c>/<c># HELP</c> lines, samples <c>name{label="value",...} value [timestamp]</c> with escaped label
/// values (<c>\\</c>, <c>\"</c>, <c>\n</c>), and the special values NaN, +Inf, -Inf. A malformed line throws a
/// <see cref="FormatException"/> naming its line number and what is wrong.
/// </summary>
public static class PrometheusText
{
    public static Scrape Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var samples = new List<MetricSample>();
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var lineNo = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNo++;
            var line = raw.TrimEnd('\r').Trim();
            if (line.Length == 0) continue;
            if (line[0] == '#')
            {
                var parts = line.Split(' ', 4, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length >= 4 && parts[1] == "TYPE") types[parts[2]] = parts[3].Trim();
                continue;
            }
            samples.Add(ParseSample(line, lineNo));
        }
        return new Scrape(samples, types);
    }

    private static MetricSample ParseSample(string line, int lineNo)
    {
        var i = 0;
        while (i < line.Length && IsNameChar(line[i], i == 0)) i++;
        if (i == 0) throw new FormatException($"line {lineNo}: expected a metric name at the start of '{Short(line)}'");
        var name = line[..i];
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (true)
            {
                while (i < line.Length && (line[i] == ' ' || line[i] == ',')) i++;
                if (i >= line.Length) throw new FormatException($"line {lineNo}: label set of '{name}' is not closed with '}}'");
                if (line[i] == '}') { i++; break; }
                var start = i;
                while (i < line.Length && IsNameChar(line[i], i == start)) i++;
                if (i == start) throw new FormatException($"line {lineNo}: expected a label name in '{Short(line)}' at column {i + 1}");
                var labelName = line[start..i];
                if (i + 1 >= line.Length || line[i] != '=' || line[i + 1] != '"')
                    throw new FormatException($"line {lineNo}: label '{labelName}' of '{name}' must be followed by =\"value\"");
                i += 2;
                var value = new StringBuilder();
                while (true)
                {
                    if (i >= line.Length) throw new FormatException($"line {lineNo}: value of label '{labelName}' of '{name}' is not closed with '\"'");
                    var c = line[i++];
                    if (c == '"') break;
                    if (c == '\\' && i < line.Length)
                    {
                        var e = line[i++];
                        value.Append(e switch { 'n' => '\n', '\\' => '\\', '"' => '"', _ => e });
                    }
                    else value.Append(c);
                }
                labels[labelName] = value.ToString();
            }
        }
        var rest = line[i..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (rest.Length is < 1 or > 2) throw new FormatException($"line {lineNo}: expected a value (and an optional timestamp) after '{name}', got '{Short(line[i..])}'");
        return new MetricSample(name, labels, ParseValue(rest[0], lineNo, name));
    }

    private static double ParseValue(string s, int lineNo, string name) => s switch
    {
        "NaN" => double.NaN,
        "+Inf" or "Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        _ => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new FormatException($"line {lineNo}: value of '{name}' is not a number: '{Short(s)}'"),
    };

    private static bool IsNameChar(char c, bool first) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or '_' or ':' || (!first && c is >= '0' and <= '9');

    private static string Short(string s) => s.Length <= 60 ? s : s[..60] + "…";
}
