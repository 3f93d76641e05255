using System.CommandLine;
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

    private static readonly Option<int> Dimension = CliOptions.Int("--dimension", 235_146, "parameters per update (default: the 784-256-128-10 MLP)");
    private static readonly Option<int> Updates = CliOptions.Int("--updates", 10, "model updates aggregated");
    private static readonly Option<int> Repetitions = CliOptions.Int("--repetitions", 15, "repetitions per aggregator");
    private static readonly Option<string> Out = BenchCommand.OutOption();
    private static readonly Option<bool> NoWrite = BenchCommand.NoWriteOption();

    public static Command Create() => Cli.Command("aggregate", """
        federated aggregation of N model updates against a sum-of-vectors baseline
        FedAvg, median, trimmed mean and Krum over N model updates, each against a sum-of-vectors baseline measured in
        the same run (GB/s of update bytes).
        """, [Updates, Dimension, Repetitions, Out, NoWrite], RunAsync);

    private static Task<int> RunAsync(ParseResult args)
    {
        var dimension = args.GetValue(Dimension);
        var updates = args.GetValue(Updates);
        var repetitions = args.GetValue(Repetitions);
        var outPath = args.GetValue(Out)!;
        var write = !args.GetValue(NoWrite);
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
