using System.Diagnostics;
using System.Globalization;
using System.Net.Http;
using System.Text.Json;
using EdgeActors.Client;
using EdgeActors.Client.Security;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;
using EdgeActors.Nodes.Data;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Nodes.Simulation;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// Metrics and health of real node processes, checked with tools nobody here wrote: a real Prometheus server
/// (/usr/bin/prometheus) scrapes every node while devices stream through the client library, <c>promtool check metrics</c>
/// lints each node's <c>/metrics</c>, PromQL through Prometheus' HTTP API; <c>/health/ready</c> read with curl.
/// </summary>
public sealed class ObservabilityTests(ITestOutputHelper output)
{
    private sealed record CurlResult(int Status, string Body, int Exit);

    private async Task<CurlResult> Curl(string url, string caFile)
    {
        var psi = new ProcessStartInfo("/usr/bin/curl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-sS", "--max-time", "10", "--cacert", caFile, "-w", "\n%{http_code}", url }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = await p.StandardOutput.ReadToEndAsync();
        var stderr = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        var cut = stdout.LastIndexOf('\n');
        var status = int.Parse(stdout[(cut + 1)..], CultureInfo.InvariantCulture);
        var body = stdout[..Math.Max(0, cut)];
        return new CurlResult(status, body + (p.ExitCode != 0 ? $" [curl exit {p.ExitCode}: {stderr.Trim()}]" : ""), p.ExitCode);
    }

    /// <summary>curl | promtool check metrics, through bash with pipefail: both must succeed.</summary>
    private async Task<(int Exit, string Output)> PromtoolCheck(string url, string caFile)
    {
        var psi = new ProcessStartInfo("/bin/bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("set -o pipefail; /usr/bin/curl -sS --max-time 10 --cacert \"$1\" \"$2\" | /usr/bin/promtool check metrics");
        psi.ArgumentList.Add("promtool-check");
        psi.ArgumentList.Add(caFile);
        psi.ArgumentList.Add(url);
        using var p = Process.Start(psi)!;
        var text = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, text);
    }

    [Fact]
    public async Task Prometheus_should_scrape_every_node_and_see_ingest_rise_and_entities_match_status()
    {
        await using var h = await HttpCluster.StartAsync("observability", output, extraPorts: 1);
        var cluster = h.Cluster;
        var client = h.Client;
        var dir = h.Directory;
        var promPort = h.ExtraPorts[0];
        var ca = h.CaFile;
        Process? prometheus = null;
        try
        {
            // devices stream through the client library until the end of the test (12 devices, both edges)
            const int devices = 12;
            h.Stream("obs-", devices);
            await h.WaitSentAsync(devices * 2);

            // every node's /metrics passes promtool's lint (with ingest series present on the edges)
            foreach (var (name, url) in cluster.HttpUrls)
            {
                var (exit, text) = await PromtoolCheck(url + "metrics", ca);
                output.WriteLine($"promtool check metrics {name}: exit {exit} {text.Trim()}");
                Assert.True(exit == 0, $"promtool check metrics failed on {name}: {text}");
            }

            // a real Prometheus scraping every node every second
            var promDir = Path.Combine(dir, "prometheus");
            Directory.CreateDirectory(promDir);
            var targets = string.Join(", ", cluster.Specs.Select(s => $"\"127.0.0.1:{s.HttpPort}\""));
            await File.WriteAllTextAsync(Path.Combine(promDir, "prometheus.yml"), $$"""
                global:
                  scrape_interval: 1s
                  evaluation_interval: 1s
                scrape_configs:
                  - job_name: edgeactors
                    scheme: https
                    tls_config:
                      ca_file: {{ca}}
                    static_configs:
                      - targets: [{{targets}}]
                """);
            var psi = new ProcessStartInfo("/usr/bin/prometheus") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { $"--config.file={Path.Combine(promDir, "prometheus.yml")}", $"--storage.tsdb.path={Path.Combine(promDir, "data")}",
                         $"--web.listen-address=127.0.0.1:{promPort}" })
                psi.ArgumentList.Add(a);
            prometheus = Process.Start(psi)!;
            var promLog = new System.Text.StringBuilder();
            prometheus.OutputDataReceived += (_, e) => { lock (promLog) promLog.AppendLine(e.Data); };
            prometheus.ErrorDataReceived += (_, e) => { lock (promLog) promLog.AppendLine(e.Data); };
            prometheus.BeginOutputReadLine();
            prometheus.BeginErrorReadLine();
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{promPort}/"), Timeout = TimeSpan.FromSeconds(5) };

            async Task<double?> Query(string promql)
            {
                try
                {
                    var json = await http.GetStringAsync("api/v1/query?query=" + Uri.EscapeDataString(promql));
                    var result = JsonDocument.Parse(json).RootElement.GetProperty("data").GetProperty("result");
                    if (result.GetArrayLength() == 0) return null;
                    return double.Parse(result[0].GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    return null; // Prometheus still starting
                }
            }

            async Task<double> WaitFor(string promql, Func<double, bool> good, string what)
            {
                var sw = Stopwatch.StartNew();
                double? last = null;
                while (sw.Elapsed < TimeSpan.FromSeconds(60))
                {
                    last = await Query(promql);
                    if (last is { } v && good(v)) return v;
                    await Task.Delay(500);
                }
                string log;
                lock (promLog) log = promLog.ToString();
                throw new Xunit.Sdk.XunitException($"{what}: {promql} = {last?.ToString(CultureInfo.InvariantCulture) ?? "no value"}; prometheus log:\n{log}");
            }

            var up = await WaitFor("count(up{job=\"edgeactors\"} == 1)", v => v == cluster.Specs.Count, "every node scraped");
            output.WriteLine($"targets up: {up}");
            var first = await WaitFor("sum(edgeactors_ingest_accepted_total)", v => v > 0, "ingest counter present");
            var second = await WaitFor("sum(edgeactors_ingest_accepted_total)", v => v > first, "ingest counter rising");
            output.WriteLine($"sum(edgeactors_ingest_accepted_total): {first} then {second}");
            Assert.True(second > first);

            // the entity count Prometheus sees equals what the cluster reports (status: the shard regions' entities)
            var sw2 = Stopwatch.StartNew();
            double? entities = null;
            var reported = -1;
            while (sw2.Elapsed < TimeSpan.FromSeconds(60))
            {
                reported = (await client.GetOverviewAsync()).Devices;
                entities = await Query("sum(edgeactors_ingest_entities)");
                if (entities == reported && reported == devices) break;
                await Task.Delay(500);
            }
            output.WriteLine($"sum(edgeactors_ingest_entities) = {entities}, status reports {reported} devices");
            Assert.Equal(devices, reported);
            Assert.Equal(reported, entities);
            var members = await Query("max(sum by (instance) (edgeactors_cluster_members{role=\"gateway\",status=\"up\"}))");
            Assert.Equal(3, members); // datacenter + two edges, as every node sees them

            // the shard, singleton, disk and sync metrics (docs/metrics.md), as Prometheus sees them
            var regionEntities = await WaitFor("sum(edgeactors_cluster_region_entities{region=\"device\"})", v => v == devices, "entities per region = devices");
            var shards = await WaitFor("sum(edgeactors_cluster_shards{region=\"device\"})", v => v > 0, "shards per region");
            var registry = await WaitFor("sum(edgeactors_cluster_singleton{singleton=\"model-registry\"})", v => v == 1, "the model registry on exactly one node");
            var registryNode = await WaitFor($"count(edgeactors_cluster_singleton{{singleton=\"model-registry\",node=\"{cluster.AddressOf("datacenter")}\"}})", v => v == 1, "the model registry on the datacenter");
            var outboxDisk = await WaitFor("min(edgeactors_disk_used_bytes{file=\"outbox\"})", v => v > 0, "outbox files on disk on both edges");
            var storeDisk = await WaitFor("sum(edgeactors_disk_used_bytes{file=\"store\"})", v => v > 0, "the datacenter's store on disk");
            var raw = await WaitFor("sum(edgeactors_sync_sent_bytes_total{kind=\"raw\"})", v => v > 0, "sync bytes sent, raw");
            var compressed = await WaitFor("sum(edgeactors_sync_sent_bytes_total{kind=\"compressed\"})", v => v > 0, "sync bytes sent, compressed");
            var lagEdges = await WaitFor("count(edgeactors_sync_store_lag_seconds)", v => v == 2, "store lag for both edges");
            output.WriteLine($"region entities {regionEntities}, shards {shards}, registry singletons {registry} (on the datacenter: {registryNode}), " +
                             $"disk outbox min {outboxDisk} store {storeDisk}, sync raw {raw} compressed {compressed}, lag series {lagEdges}");
        }
        finally
        {
            if (prometheus is { HasExited: false })
            {
                prometheus.Kill();
                await prometheus.WaitForExitAsync();
            }
            prometheus?.Dispose();
        }
    }

    [Fact]
    public async Task Health_should_be_unready_before_join_and_model_load_ready_after_and_refused_after_leave()
    {
        var p = Ports.Free(6);
        var dir = TestCluster.FreshDirectory("health", p[0]);
        var cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", p[0]) { HttpPort = p[3] },
            new NodeSpec("datacenter", "datacenter", p[1]) { HttpPort = p[4] },
            new NodeSpec("edge1", "edge", p[2]) { HttpPort = p[5] },
        ], dir);
        var ca = Path.Combine(cluster.CertsDirectory, Certificates.CaCertificateFile);
        var ready = $"https://127.0.0.1:{p[5]}/health/ready";
        EdgeClient? client = null;
        try
        {
            async Task<CurlResult> WaitReady(Func<CurlResult, bool> until, string what)
            {
                var sw = Stopwatch.StartNew();
                CurlResult? last = null;
                while (sw.Elapsed < TimeSpan.FromSeconds(90))
                {
                    last = await Curl(ready, ca);
                    if (until(last)) return last;
                    await Task.Delay(250);
                }
                throw new Xunit.Sdk.XunitException($"{what}: last answer {last}; edge log {cluster["edge1"].LogPath}");
            }

            // the edge alone, before any seed is up: it cannot join, its HTTP host already answers
            cluster.Start("edge1");
            var before = await WaitReady(r => r.Exit == 0, "the edge's HTTP host answers");
            output.WriteLine($"before join: {before.Status} {before.Body}");
            Assert.Equal(503, before.Status);
            Assert.Contains("member:", JsonDocument.Parse(before.Body).RootElement.GetProperty("notReady").EnumerateArray().Select(e => e.GetString()!).First());
            Assert.Equal(200, (await Curl($"https://127.0.0.1:{p[5]}/health/live", ca)).Status);

            cluster.Start("seed");
            cluster.Start("datacenter");
            client = EdgeClient.Connect(TestCluster.ClientOptions(cluster, p[1], p[2]) with
            {
                RequestTimeout = TimeSpan.FromSeconds(5),
                RetryDeadline = TimeSpan.FromSeconds(60),
            });
            Assert.True(await ClusterProbe.WaitForMembersAsync(client, cluster, 3, TimeSpan.FromSeconds(90)) is not null, "cluster did not form; logs in " + dir);

            // joined, region registered, but no model published yet: still not ready, because of the models alone
            var joined = await WaitReady(r => r.Exit == 0 && NotReady(r).All(n => n.StartsWith("models:", StringComparison.Ordinal)), "only the models check failing");
            output.WriteLine($"joined, no model: {joined.Status} {joined.Body}");
            Assert.Equal(503, joined.Status);
            Assert.NotEmpty(NotReady(joined));

            var train = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: true, limit: 2_000);
            var mlp = new Mlp([784, 16, 10], 7);
            MlpTrainer.Train(mlp, FashionLabels.ToFloats(train.Images, train.Count), train.Labels, train.Count, new SgdOptions(Epochs: 1, Seed: 7));
            await client.PublishModelAsync(new PublishModel("fmnist-mlp", MlpOnnx.Export(mlp), [784], FashionLabels.Names, "tiny, for the health test"));
            var loaded = await WaitReady(r => r.Status == 200, "ready once the model is loaded");
            output.WriteLine($"model loaded: {loaded.Status} {loaded.Body}");
            Assert.True(JsonDocument.Parse(loaded.Body).RootElement.GetProperty("ready").GetBoolean());

            // the edge leaves (SIGTERM): its HTTP host stops first, so probes get connection refused (curl exit 7), never 200 again
            cluster["edge1"].Signal(15);
            var answers = new List<CurlResult>();
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < TimeSpan.FromSeconds(60))
            {
                var r = await Curl(ready, ca);
                answers.Add(r);
                if (r.Exit == 7) break;
                await Task.Delay(100);
            }
            output.WriteLine("after SIGTERM: " + string.Join(" | ", answers.Select(a => $"{a.Status} exit {a.Exit}")));
            Assert.Equal(7, answers[^1].Exit);
            Assert.True(await cluster["edge1"].WaitForExitAsync(TimeSpan.FromSeconds(30)), "edge1 did not exit after SIGTERM");
            var after = await Curl(ready, ca);
            Assert.Equal(7, after.Exit); // connection refused: nothing listens any more
            // between the signal and the refusal the node may still have answered; once it answers non-200 it never says 200 again
            var firstNot200 = answers.FindIndex(a => a.Status != 200);
            Assert.True(firstNot200 >= 0 && answers.Skip(firstNot200).All(a => a.Status != 200), "ready again after the node started leaving");
        }
        finally
        {
            await TestCluster.StopAsync(client, cluster, output);
        }
    }

    private static string[] NotReady(CurlResult r)
    {
        try
        {
            return JsonDocument.Parse(r.Body).RootElement.GetProperty("notReady").EnumerateArray().Select(e => e.GetString()!).ToArray();
        }
        catch (JsonException)
        {
            return ["unparsable: " + r.Body];
        }
    }
}
