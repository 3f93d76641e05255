using System.Buffers.Binary;
using System.Globalization;
using EdgeActors.Tools.Experiments;
using SkiaSharp;

namespace EdgeActors.Tests.Experiments;

public sealed class ExperimentReportTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgeactors-report-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static IReadOnlyList<RoundRow> Curve(double start, double end, int rounds, int clients = 10) =>
        [.. Enumerable.Range(1, rounds).Select(r => new RoundRow(
            r,
            start + (end - start) * (1 - Math.Exp(-r / 6.0)),
            2.3 * Math.Exp(-r / 8.0) + 0.1 / 3,
            clients,
            1.5 + r / 7.0))];

    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    private static (int Width, int Height) Ihdr(byte[] png)
    {
        Assert.True(png.Length > 33, "too short for a PNG header");
        Assert.Equal(PngSignature, png[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(png, 12, 4));
        return (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
    }

    [Fact]
    public void Csv_should_round_trip_every_number()
    {
        var rows = Curve(0.1, 0.87, 25).Append(new RoundRow(26, 1.0 / 3, 1e-9, 0, 123456.789)).ToList();
        var path = Path.Combine(_dir, "nested", "run.csv");

        ExperimentReport.WriteCsv(path, rows);

        var lines = File.ReadAllLines(path);
        Assert.Equal("round,accuracy,loss,clients,seconds,validation,published,epsilon", lines[0]);
        Assert.Equal(rows.Count + 1, lines.Length);
        for (var i = 0; i < rows.Count; i++)
        {
            var f = lines[i + 1].Split(',');
            Assert.Equal(8, f.Length);
            Assert.Equal(rows[i].Round, int.Parse(f[0], CultureInfo.InvariantCulture));
            Assert.Equal(rows[i].Accuracy, double.Parse(f[1], CultureInfo.InvariantCulture));
            Assert.Equal(rows[i].Loss, double.Parse(f[2], CultureInfo.InvariantCulture));
            Assert.Equal(rows[i].Clients, int.Parse(f[3], CultureInfo.InvariantCulture));
            Assert.Equal(rows[i].Seconds, double.Parse(f[4], CultureInfo.InvariantCulture));
        }
        Assert.Equal(rows, ExperimentReport.ReadCsv(path));
    }

    [Fact]
    public void Csv_should_round_trip_validation_publish_and_epsilon_and_read_the_older_five_column_files()
    {
        var rows = new[]
        {
            new RoundRow(1, 0.8, 0.5, 10, 2) { Validation = 0.81, Published = true, Epsilon = 1.25 },
            new RoundRow(2, 0.7, 0.6, 9, 2) { Validation = 0.72, Published = false, Epsilon = 1.5 },
        };
        var path = Path.Combine(_dir, "gate.csv");
        ExperimentReport.WriteCsv(path, rows);
        Assert.Equal(rows, ExperimentReport.ReadCsv(path));

        var old = Path.Combine(_dir, "old.csv");
        File.WriteAllText(old, "round,accuracy,loss,clients,seconds\n1,0.5,1.25,3,2.5\n");
        var back = Assert.Single(ExperimentReport.ReadCsv(old));
        Assert.Equal(0.5, back.Accuracy);
        Assert.True(double.IsNaN(back.Validation));
        Assert.False(back.Published);
    }

    [Fact]
    public void Csv_should_use_the_invariant_culture_whatever_the_current_one()
    {
        var before = CultureInfo.CurrentCulture;
        try
        {
            // The project runs with InvariantGlobalization, so build a culture with German-style separators by hand.
            var comma = (CultureInfo)CultureInfo.InvariantCulture.Clone();
            comma.NumberFormat.NumberDecimalSeparator = ",";
            comma.NumberFormat.NumberGroupSeparator = ".";
            CultureInfo.CurrentCulture = comma;
            Assert.Equal("0,5", 0.5.ToString()); // the culture took
            var path = Path.Combine(_dir, "de.csv");
            ExperimentReport.WriteCsv(path, [new RoundRow(1, 0.5, 1.25, 3, 2.5)]);
            Assert.Equal("1,0.5,1.25,3,2.5,NaN,0,0", File.ReadAllLines(path)[1]);
        }
        finally
        {
            CultureInfo.CurrentCulture = before;
        }
    }

    [Fact]
    public void Plot_should_write_a_png_of_plausible_size_with_something_drawn()
    {
        var series = new Dictionary<string, IReadOnlyList<RoundRow>>
        {
            ["fedavg"] = Curve(0.10, 0.86, 30),
            ["fedprox"] = Curve(0.12, 0.84, 30),
            ["scaffold"] = Curve(0.08, 0.88, 30),
        };
        var path = Path.Combine(_dir, "plots", "accuracy.png");

        ExperimentReport.WritePlot(path, "Fashion-MNIST, dir(beta=0.5), 10 parties", series, targetAccuracy: 0.85);

        var png = File.ReadAllBytes(path);
        var (width, height) = Ihdr(png);
        Assert.Equal(ExperimentReport.PlotWidth, width);
        Assert.Equal(ExperimentReport.PlotHeight, height);
        Assert.True(png.Length > 5_000, $"PNG of {png.Length} bytes: nothing much drawn");

        // A blank image of the same size, encoded the same way, is far smaller.
        using var blank = new SKBitmap(width, height);
        blank.Erase(SKColors.White);
        using var blankPng = blank.Encode(SKEncodedImageFormat.Png, 100);
        Assert.True(png.Length > 3 * blankPng.Size, $"plot {png.Length} bytes vs blank {blankPng.Size} bytes");
    }

    [Fact]
    public void Plot_should_draw_one_coloured_line_per_series()
    {
        var one = new Dictionary<string, IReadOnlyList<RoundRow>> { ["fedavg"] = Curve(0.1, 0.9, 20) };
        var three = new Dictionary<string, IReadOnlyList<RoundRow>>
        {
            ["fedavg"] = Curve(0.1, 0.9, 20),
            ["fedprox"] = Curve(0.1, 0.7, 20),
            ["fednova"] = Curve(0.1, 0.5, 20),
        };
        var onePath = Path.Combine(_dir, "one.png");
        var threePath = Path.Combine(_dir, "three.png");

        ExperimentReport.WritePlot(onePath, "one", one);
        ExperimentReport.WritePlot(threePath, "three", three);

        Assert.True(ColouredHues(onePath) >= 1, "no coloured line in the one-series plot");
        Assert.True(ColouredHues(threePath) >= 3, "fewer than three line colours in the three-series plot");
    }

    [Fact]
    public void Plot_should_draw_the_target_line_when_asked()
    {
        var series = new Dictionary<string, IReadOnlyList<RoundRow>> { ["fedavg"] = Curve(0.1, 0.9, 20) };
        var without = Path.Combine(_dir, "without.png");
        var with = Path.Combine(_dir, "with.png");

        ExperimentReport.WritePlot(without, "t", series);
        ExperimentReport.WritePlot(with, "t", series, targetAccuracy: 0.5);

        Assert.True(DarkPixels(with) > DarkPixels(without) + 100, "the dashed target line added no dark pixels");
    }

    [Fact]
    public void Plot_should_render_its_text_with_an_installed_font()
    {
        // Needs a font under /usr/share/fonts (Debian: fonts-dejavu-core); without one the plot has no text at all.
        Assert.True(ExperimentReport.TextFont is not null,
            "SkiaSharp finds no font on this machine: install one (apt-get install fonts-dejavu-core)");

        var series = new Dictionary<string, IReadOnlyList<RoundRow>> { ["fedavg"] = Curve(0.1, 0.9, 20) };
        var shortTitle = Path.Combine(_dir, "short.png");
        var longTitle = Path.Combine(_dir, "long.png");
        ExperimentReport.WritePlot(shortTitle, "A", series);
        ExperimentReport.WritePlot(longTitle, "A much longer title drawn across the top of the figure", series);

        // Glyphs are dark pixels: the long title adds many more of them to the band above the data area.
        Assert.True(DarkPixels(longTitle, top: 30) > DarkPixels(shortTitle, top: 30) + 300, "the title's text drew nothing");
    }

    [Fact]
    public void Plot_should_handle_an_empty_series()
    {
        var path = Path.Combine(_dir, "empty.png");
        ExperimentReport.WritePlot(path, "nothing yet", new Dictionary<string, IReadOnlyList<RoundRow>> { ["fedavg"] = [] });
        Assert.Equal((ExperimentReport.PlotWidth, ExperimentReport.PlotHeight), Ihdr(File.ReadAllBytes(path)));
    }

    /// <summary>How many of 12 hue buckets hold at least 200 strongly coloured pixels.</summary>
    private static int ColouredHues(string path)
    {
        using var bitmap = SKBitmap.Decode(path);
        Assert.NotNull(bitmap);
        var buckets = new int[12];
        foreach (var px in bitmap.Pixels)
        {
            px.ToHsv(out var h, out var s, out var v);
            if (s > 50 && v > 30) buckets[(int)(h / 30) % 12]++;
        }
        return buckets.Count(b => b >= 200);
    }

    private static int DarkPixels(string path, int? top = null)
    {
        using var bitmap = SKBitmap.Decode(path);
        Assert.NotNull(bitmap);
        var pixels = top is { } rows ? bitmap.Pixels.Take(rows * bitmap.Width) : bitmap.Pixels;
        return pixels.Count(px => px.Red < 160 && px.Green < 160 && px.Blue < 160 && Math.Abs(px.Red - px.Blue) < 20);
    }
}
