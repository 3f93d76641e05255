using EdgeActors.Nodes;
using System.Globalization;
using System.Text;
using EdgeActors.Actors.Federated;
using EdgeActors.Learning.Federated;

namespace EdgeActors.Tools.Commands;

/// <summary><c>bench aggregate</c>: the federated aggregators against a same-run sum-of-vectors baseline.</summary>
public static class BenchAggregate
{
    private const string Begin = "<!-- bench aggregate: begin -->";
    private const string End = "<!-- bench aggregate: end -->";

    public static Task<int> RunAsync(CliArgs args)
    {
        var dimension = args.Int("dimension", 235_146);
        var updates = args.Int("updates", 10);
        var repetitions = args.Int("repetitions", 15);
        var outPath = args.Get("out", Path.Combine("docs", "benchmarks.md"));
        var write = !args.Flag("no-write");
        args.EnsureAllUsed();
        Console.WriteLine($"bench aggregate: {updates} updates of {dimension:N0} floats (the 784-256-128-10 MLP by default), {repetitions} repetitions, one thread");
        var r = AggregationBench.Run(dimension, updates, repetitions);
        Console.WriteLine(r.ToString());
        var result = string.Create(CultureInfo.InvariantCulture,
            $"RESULT aggregate updates={r.Updates} dimension={r.Dimension} baseline_gbps={r.BaselineGBps:F2} fedavg_gbps={r.FedAvgGBps:F2} ratio={r.FedAvgToBaseline:F2} median_gbps={r.MedianGBps:F2} trimmed_mean_gbps={r.TrimmedMeanGBps:F2} krum_gbps={r.KrumGBps:F2} mask_gbps={r.MaskExpandGBps:F2}");
        if (write)
        {
            var sb = new StringBuilder();
            sb.AppendLine(Begin);
            sb.AppendLine("## Federated aggregation (`edgeactors bench aggregate`)");
            sb.AppendLine();
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Measured {DateTime.UtcNow:yyyy-MM-dd} on this machine ({Environment.ProcessorCount} cores), one thread. Figures are GB/s of update bytes read (updates × floats × 4 B / time), medians of {r.Repetitions} repetitions, all variants interleaved in the same run."));
            sb.AppendLine();
            sb.AppendLine("| variant | GB/s | vs baseline |");
            sb.AppendLine("|---|---|---|");
            void Row(string name, double gbps) => sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {gbps:F2} | {gbps / r.BaselineGBps:F2}× |"));
            Row("baseline: sum of vectors (TensorPrimitives.Add)", r.BaselineGBps);
            Row("FedAvg (weighted, streamed into one accumulator)", r.FedAvgGBps);
            Row("coordinate-wise median", r.MedianGBps);
            Row("trimmed mean (β = 0.2)", r.TrimmedMeanGBps);
            Row("Krum (f = 2, pairwise distances as updates arrive)", r.KrumGBps);
            Row("secure-aggregation mask expansion (PRG, bytes of mask)", r.MaskExpandGBps);
            sb.AppendLine();
            sb.AppendLine("```");
            sb.AppendLine("./edgeactors bench aggregate");
            sb.AppendLine(result);
            sb.AppendLine("```");
            sb.AppendLine(End);
            Bench.BenchmarkDocs.WriteBlock(outPath, Begin, End, sb.ToString());
        }
        Console.WriteLine(result);
        return Task.FromResult(0);
    }
}
