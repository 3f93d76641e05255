using System.Globalization;
using System.Text;
using ScottPlot;
using SkiaSharp;

namespace EdgeActors.Tools.Experiments;

/// <summary>
/// One round of a federated-learning run. <see cref="Accuracy"/> is a fraction in [0, 1] (as elsewhere in the
/// project); <see cref="Clients"/> is how many parties took part; <see cref="Seconds"/> is the round's wall time.
/// </summary>
public sealed record RoundRow(int Round, double Accuracy, double Loss, int Clients, double Seconds)
{
    /// <summary>Accuracy on the coordinator's validation set (NaN: not known).</summary>
    public double Validation { get; init; } = double.NaN;

    /// <summary>Whether the publish gate sent this round's model to the registry.</summary>
    public bool Published { get; init; }

    /// <summary>Central DP: ε spent up to and including this round (0: no noise).</summary>
    public double Epsilon { get; init; }
}

/// <summary>Writes the results of an experiment: a CSV of rounds and a PNG plot of accuracy per round.</summary>
public static class ExperimentReport
{
    public const string CsvHeader = "round,accuracy,loss,clients,seconds,validation,published,epsilon";

    /// <summary>The header of CSVs written before validation, publish and ε were added (still read).</summary>
    public const string CsvHeaderV1 = "round,accuracy,loss,clients,seconds";

    /// <summary>Default size of <see cref="WritePlot"/>'s image, in pixels.</summary>
    public const int PlotWidth = 900, PlotHeight = 560;

    /// <summary>Sans-serif families tried first for the plot's text, in order.</summary>
    private static readonly string[] PreferredFonts =
        ["DejaVu Sans", "Liberation Sans", "Noto Sans", "Open Sans", "Arial", "Helvetica", "FreeSans", "Segoe UI"];

    private static readonly Lazy<string?> Font = new(PickFont);

    /// <summary>
    /// The font family <see cref="WritePlot"/> draws its text with, or null where SkiaSharp finds no font on this
    /// machine: the plot is then written without any text (lines, grid and legend swatches only). The bundled
    /// SkiaSharp native library (NativeAssets.Linux.NoDependencies) does not use fontconfig; it reads the font files
    /// under /usr/share/fonts, so on Debian `apt-get install fonts-dejavu-core` is enough.
    /// </summary>
    public static string? TextFont => Font.Value;

    private static string? PickFont()
    {
        string[] installed = [.. SKFontManager.Default.FontFamilies.Where(f => !string.IsNullOrWhiteSpace(f))];
        return PreferredFonts.FirstOrDefault(p => installed.Contains(p, StringComparer.OrdinalIgnoreCase))
            ?? installed.FirstOrDefault(f => f.Contains("Sans", StringComparison.OrdinalIgnoreCase) && !f.Contains("Mono", StringComparison.OrdinalIgnoreCase))
            ?? installed.FirstOrDefault();
    }

    /// <summary>
    /// Writes <paramref name="rows"/> as CSV with the header <see cref="CsvHeader"/>, in the invariant culture
    /// ('.' decimal point, round-trippable doubles), one line per row, '\n' line ends. Creates the directory.
    /// </summary>
    public static void WriteCsv(string path, IReadOnlyList<RoundRow> rows)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(rows);
        var sb = new StringBuilder(CsvHeader).Append('\n');
        foreach (var r in rows)
            sb.Append(r.Round.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(r.Accuracy.ToString("R", CultureInfo.InvariantCulture)).Append(',')
              .Append(r.Loss.ToString("R", CultureInfo.InvariantCulture)).Append(',')
              .Append(r.Clients.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(r.Seconds.ToString("R", CultureInfo.InvariantCulture)).Append(',')
              .Append(r.Validation.ToString("R", CultureInfo.InvariantCulture)).Append(',')
              .Append(r.Published ? '1' : '0').Append(',')
              .Append(r.Epsilon.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        CreateDirectoryFor(path);
        File.WriteAllText(path, sb.ToString(), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
    }

    /// <summary>Reads a file written by <see cref="WriteCsv"/> back into rows.</summary>
    /// <exception cref="FormatException">The header or a line is not what <see cref="WriteCsv"/> writes.</exception>
    public static IReadOnlyList<RoundRow> ReadCsv(string path)
    {
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || (lines[0].Trim() != CsvHeader && lines[0].Trim() != CsvHeaderV1))
            throw new FormatException($"{path}: expected the header '{CsvHeader}'");
        var fields = lines[0].Trim() == CsvHeader ? 8 : 5;
        var rows = new List<RoundRow>(lines.Length - 1);
        for (var n = 1; n < lines.Length; n++)
        {
            if (lines[n].Length == 0) continue;
            var f = lines[n].Split(',');
            if (f.Length != fields) throw new FormatException($"{path}:{n + 1}: expected {fields} fields, got {f.Length}");
            var inv = CultureInfo.InvariantCulture;
            var row = new RoundRow(
                int.Parse(f[0], NumberStyles.Integer, inv),
                double.Parse(f[1], NumberStyles.Float, inv),
                double.Parse(f[2], NumberStyles.Float, inv),
                int.Parse(f[3], NumberStyles.Integer, inv),
                double.Parse(f[4], NumberStyles.Float, inv));
            if (fields == 8)
                row = row with { Validation = double.Parse(f[5], NumberStyles.Float, inv), Published = f[6] == "1", Epsilon = double.Parse(f[7], NumberStyles.Float, inv) };
            rows.Add(row);
        }
        return rows;
    }

    /// <summary>
    /// Writes a PNG line plot (<see cref="PlotWidth"/> x <see cref="PlotHeight"/>) of accuracy in percent per round,
    /// one line with markers per series (e.g. one per strategy), named in a legend, with an optional dashed
    /// horizontal line at <paramref name="targetAccuracy"/> (a fraction, like <see cref="RoundRow.Accuracy"/>).
    /// Rendering uses ScottPlot 5 on SkiaSharp, text in <see cref="TextFont"/>; where the machine has no font at all
    /// the text is left out, but the lines, markers and the PNG are still written (no exception).
    /// </summary>
    public static void WritePlot(string path, string title, IReadOnlyDictionary<string, IReadOnlyList<RoundRow>> series, double? targetAccuracy = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(series);

        var plot = new Plot();
        if (TextFont is { } font) plot.Font.Set(font);
        plot.Title(title ?? "");
        plot.XLabel("Round");
        plot.YLabel("Accuracy (%)");

        var maxRound = 1.0;
        double low = double.PositiveInfinity, high = double.NegativeInfinity;
        foreach (var (name, rows) in series)
        {
            var ordered = rows.OrderBy(r => r.Round).ToArray();
            var xs = ordered.Select(r => (double)r.Round).ToArray();
            var ys = ordered.Select(r => r.Accuracy * 100.0).ToArray();
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = name;
            line.LineWidth = 2;
            line.MarkerSize = ordered.Length <= 60 ? 5 : 0;
            if (xs.Length > 0) maxRound = Math.Max(maxRound, xs[^1]);
            foreach (var y in ys.Where(double.IsFinite)) { low = Math.Min(low, y); high = Math.Max(high, y); }
        }

        if (targetAccuracy is { } target)
        {
            var line = plot.Add.HorizontalLine(target * 100.0);
            line.LinePattern = LinePattern.Dashed;
            line.LineWidth = 1.5f;
            line.Color = Colors.Black.WithAlpha(0.7);
            low = Math.Min(low, target * 100.0);
            high = Math.Max(high, target * 100.0);
            line.LegendText = $"target {(target * 100.0).ToString("0.#", CultureInfo.InvariantCulture)}%";
        }

        plot.Axes.SetLimitsX(0, maxRound + 0.5);
        // Accuracy axis: the data (and target) with a margin, within 0..100 %.
        if (!double.IsFinite(low)) (low, high) = (0, 100);
        var margin = Math.Max(2.0, (high - low) * 0.08);
        plot.Axes.SetLimitsY(Math.Max(0, low - margin), Math.Min(100, high + margin));
        plot.ShowLegend(Alignment.LowerRight);

        CreateDirectoryFor(path);
        plot.SavePng(path, PlotWidth, PlotHeight);
    }

    /// <summary>
    /// One PNG comparing algorithms per round in three stacked panels: test accuracy (%), test loss and participants
    /// (clients whose update the round aggregated), one line per series, same colours in every panel.
    /// </summary>
    public static void WriteComparisonPlot(string path, string title, IReadOnlyDictionary<string, IReadOnlyList<RoundRow>> series)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(series);
        (string Label, Func<RoundRow, double> Value)[] panels =
        [
            ("Accuracy (%)", r => r.Accuracy * 100.0),
            ("Loss", r => r.Loss),
            ("Participants", r => r.Clients),
        ];
        const int panelHeight = 360;
        using var surface = SKSurface.Create(new SKImageInfo(PlotWidth, panelHeight * panels.Length));
        surface.Canvas.Clear(SKColors.White);
        for (var p = 0; p < panels.Length; p++)
        {
            var plot = new Plot();
            if (TextFont is { } font) plot.Font.Set(font);
            if (p == 0) plot.Title(title ?? "");
            plot.XLabel("Round");
            plot.YLabel(panels[p].Label);
            foreach (var (name, rows) in series)
            {
                var ordered = rows.OrderBy(r => r.Round).ToArray();
                var ys = ordered.Select(panels[p].Value).Select(v => double.IsFinite(v) ? v : double.NaN).ToArray();
                var line = plot.Add.Scatter(ordered.Select(r => (double)r.Round).ToArray(), ys);
                line.LegendText = name;
                line.LineWidth = 2;
                line.MarkerSize = ordered.Length <= 60 ? 4 : 0;
            }
            plot.Axes.AutoScale();
            if (p == 0) plot.ShowLegend(Alignment.LowerRight);
            using var image = SKBitmap.Decode(plot.GetImageBytes(PlotWidth, panelHeight, ImageFormat.Png));
            surface.Canvas.DrawBitmap(image, 0, p * panelHeight);
        }
        CreateDirectoryFor(path);
        using var snapshot = surface.Snapshot();
        using var data = snapshot.Encode(SKEncodedImageFormat.Png, 100);
        using var file = File.Create(path);
        data.SaveTo(file);
    }

    private static void CreateDirectoryFor(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
    }
}
