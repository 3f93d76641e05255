using System.Text.RegularExpressions;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Tools.Evaluate;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>`edgeactors evaluate` run as its own process against a local cluster it starts: the report, the plots and the RESULT line.</summary>
public sealed class EvaluateTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "edgeactors-evaluate-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_out, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [Fact]
    public async Task Evaluate_should_write_the_five_criteria_report_with_plots_and_a_result_line_without_losses()
    {
        var tools = Path.Combine(AppContext.BaseDirectory, "edgeactors-tools");
        var (file, prefix) = File.Exists(tools) ? (tools, Array.Empty<string>()) : ("dotnet", new[] { Path.Combine(AppContext.BaseDirectory, "edgeactors-tools.dll") });
        var modelCache = Path.Combine(_out, "models");
        // the tool takes a base port and uses the next three: four consecutive free ports from the suite's range
        var ports = Ports.Free(4);
        for (var i = 0; i < 20 && ports[3] - ports[0] != 3; i++) ports = Ports.Free(4);
        Assert.Equal(3, ports[3] - ports[0]);
        var basePort = ports[0];
        // the models come from the repository's cache when there is one (else they are trained once, as in the demo)
        var repoCache = FindRepoModels();
        if (repoCache is not null)
        {
            Directory.CreateDirectory(modelCache);
            foreach (var f in Directory.GetFiles(repoCache, "*.onnx")) File.Copy(f, Path.Combine(modelCache, Path.GetFileName(f)));
        }

        var run = await ExternalProcess.RunAsync(file, [.. prefix, "evaluate", "--duration", "30", "--devices", "100", "--rate", "2000", "--frames-per-s", "10",
            "--out", _out, "--base-port", basePort.ToString(), "--model-cache", modelCache], TimeSpan.FromSeconds(170));
        output.WriteLine(run.Out);
        output.WriteLine(run.Err);

        Assert.False(run.TimedOut, "evaluate ran past its timeout");
        Assert.Equal(0, run.Exit);
        var report = Path.Combine(_out, EvaluationReport.ReportFile);
        Assert.True(File.Exists(report), $"no report at {report}");
        foreach (var png in EvaluationReport.PlotFiles)
        {
            var path = Path.Combine(_out, png);
            Assert.True(File.Exists(path) && new FileInfo(path).Length > 1_000, $"no plot {path}");
            var head = new byte[8];
            using (var s = File.OpenRead(path)) s.ReadExactly(head);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, head);
        }

        var line = run.Out.Split('\n').Last(l => l.StartsWith("RESULT evaluate ", StringComparison.Ordinal)).Trim();
        var values = line["RESULT evaluate ".Length..].Split(' ').Select(kv => kv.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]);
        Assert.Equal(["duration_s", "readings_per_s", "ack_p99_ms", "infer_p99_ms", "lost", "duplicates", "cpu_max_pct", "rss_max_mb", "edge_share"], values.Keys);
        // every criterion has a measured value on this run (telemetry, frames with inference, runtime metrics on)
        foreach (var (key, value) in values)
            Assert.True(Regex.IsMatch(value, @"^\d+(\.\d+)?$"), $"{key} has no value: '{value}' in {line}");
        Assert.Equal("0", values["lost"]);
        Assert.Equal("0", values["duplicates"]);
        Assert.True(double.Parse(values["readings_per_s"], System.Globalization.CultureInfo.InvariantCulture) > 0, line);

        var markdown = await File.ReadAllTextAsync(report);
        foreach (var section in new[] { "## 1. Response time", "## 2. Throughput", "## 3. Reliability", "## 4. Resource utilisation", "## 5. Cost-benefit" })
            Assert.Contains(section, markdown);
        Assert.DoesNotContain("no observation", markdown.Split("## 2.")[0].Split("ingest ack, telemetry")[1].Split('\n')[0]);
        Assert.Contains(line, markdown);
    }

    [Fact]
    public async Task Evaluate_should_drive_and_scrape_an_existing_cluster_given_by_contacts_and_metrics()
    {
        var tools = Path.Combine(AppContext.BaseDirectory, "edgeactors-tools");
        var (file, prefix) = File.Exists(tools) ? (tools, Array.Empty<string>()) : ("dotnet", new[] { Path.Combine(AppContext.BaseDirectory, "edgeactors-tools.dll") });
        var modelCache = Path.Combine(_out, "models");
        var repoCache = FindRepoModels();
        if (repoCache is not null)
        {
            Directory.CreateDirectory(modelCache);
            foreach (var f in Directory.GetFiles(repoCache, "*.onnx")) File.Copy(f, Path.Combine(modelCache, Path.GetFileName(f)));
        }
        // the cluster is this test's, not the tool's: plain TCP (--contacts speaks no TLS), an HTTP port on every node
        var p = Ports.Free(8);
        var cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", p[0]) { HttpPort = p[4] },
            new NodeSpec("datacenter", "datacenter", p[1]) { HttpPort = p[5] },
            new NodeSpec("edge1", "edge", p[2]) { HttpPort = p[6] },
            new NodeSpec("edge2", "edge", p[3]) { HttpPort = p[7] },
        ], TestCluster.FreshDirectory("evaluate-contacts", p[0]), secure: false);
        try
        {
            cluster.StartAll();
            var contacts = string.Join(",", cluster.GatewayContacts);
            var metrics = string.Join(",", cluster.HttpUrls.Select(u => u.Url + "metrics"));
            var run = await ExternalProcess.RunAsync(file, [.. prefix, "evaluate", "--contacts", contacts, "--metrics", metrics, "--duration", "10",
                "--devices", "20", "--rate", "400", "--cameras", "2", "--frames-per-s", "4", "--out", _out, "--model-cache", modelCache], TimeSpan.FromSeconds(170));
            output.WriteLine(run.Out);
            output.WriteLine(run.Err);

            Assert.False(run.TimedOut, "evaluate ran past its timeout");
            Assert.Equal(0, run.Exit);
            var line = run.Out.Split('\n').Last(l => l.StartsWith("RESULT evaluate ", StringComparison.Ordinal)).Trim();
            var values = line["RESULT evaluate ".Length..].Split(' ').Select(kv => kv.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]);
            Assert.Equal(["duration_s", "readings_per_s", "ack_p99_ms", "infer_p99_ms", "lost", "duplicates", "cpu_max_pct", "rss_max_mb", "edge_share"], values.Keys);
            // measured from the nodes' own metrics; the store is not read with --contacts, so duplicates has no value
            foreach (var key in new[] { "readings_per_s", "ack_p99_ms", "cpu_max_pct", "rss_max_mb" })
                Assert.True(Regex.IsMatch(values[key], @"^>?\d+(\.\d+)?$"), $"{key} has no value in {line}");
            Assert.True(double.Parse(values["readings_per_s"], System.Globalization.CultureInfo.InvariantCulture) > 0, line);
            Assert.Equal("0", values["lost"]);
            Assert.Equal("na", values["duplicates"]);
            var markdown = await File.ReadAllTextAsync(Path.Combine(_out, EvaluationReport.ReportFile));
            Assert.Contains($"Existing cluster at {contacts}", markdown);
            Assert.Contains(line, markdown);
        }
        finally
        {
            await TestCluster.StopAsync(null, cluster, output);
        }
    }

    private static string? FindRepoModels()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var models = Path.Combine(dir.FullName, ".data", "models");
            if (File.Exists(Path.Combine(models, ModelBootstrap.EdgeModel.Name + ".onnx")) && File.Exists(Path.Combine(models, ModelBootstrap.LargeModel.Name + ".onnx"))) return models;
        }
        return null;
    }
}
