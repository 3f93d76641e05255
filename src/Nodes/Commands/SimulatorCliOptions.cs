using System.CommandLine;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Nodes.Commands;

/// <summary>The simulator's options (demo, simulate, chaos), with each command's own defaults.</summary>
public sealed class SimulatorCliOptions(double duration, int sensors = 100, int cameras = 10, double rate = 20_000, double frameRate = 50, int batch = 50)
{
    public readonly Option<double> Duration = CliOptions.Double("--duration", duration, "how long to stream, in seconds", "SECONDS");
    public readonly Option<int> Sensors = CliOptions.Int("--sensors", sensors, "simulated sensors");
    public readonly Option<int> Cameras = CliOptions.Int("--cameras", cameras, "simulated cameras");
    public readonly Option<int> Channels = CliOptions.Int("--channels", 4, "channels per reading");
    public readonly Option<int> Batch = CliOptions.Int("--batch", batch, "readings per batch");
    public readonly Option<double> Rate = CliOptions.Double("--rate", rate, "readings/s over all sensors");
    public readonly Option<double> FrameRate = CliOptions.Double("--frame-rate", frameRate, "frames/s over all cameras");
    public readonly Option<int> Seed = CliOptions.Int("--seed", 1, "random seed");
    public readonly Option<string?> Dataset = CliOptions.Text("--dataset", "Fashion-MNIST directory (default /usr/share/datasets/fashion-mnist)", "DIR");
    public readonly Option<string> DevicePrefix = CliOptions.Text("--device-prefix", "", "prefix of the simulated device ids", "PREFIX");
    public readonly Option<double> Noise = CliOptions.Double("--noise", 0.05, "reading noise standard deviation", "SIGMA");
    public readonly Option<double> Spikes = CliOptions.Double("--spikes", 0.01, "probability of a spike per reading", "P");
    public readonly Option<double> NaN = CliOptions.Double("--nan", 0.002, "probability of a NaN reading", "P");
    public readonly Option<double> OutOfRange = CliOptions.Double("--out-of-range", 0, "probability of an out-of-range reading", "P");
    public readonly Option<double> Duplicates = CliOptions.Double("--duplicates", 0, "probability of a batch sent twice", "P");

    public IEnumerable<Option> All => [Duration, Sensors, Cameras, Channels, Batch, Rate, FrameRate, Seed, Dataset, DevicePrefix, Noise, Spikes, NaN, OutOfRange, Duplicates];

    public SimulatorOptions From(ParseResult a) => new()
    {
        Sensors = a.GetValue(Sensors),
        Cameras = a.GetValue(Cameras),
        Channels = a.GetValue(Channels),
        BatchSize = a.GetValue(Batch),
        ReadingsPerSecond = a.GetValue(Rate),
        FramesPerSecond = a.GetValue(FrameRate),
        Duration = TimeSpan.FromSeconds(a.GetValue(Duration)),
        Seed = a.GetValue(Seed),
        DatasetDirectory = a.GetValue(Dataset),
        DevicePrefix = a.GetValue(DevicePrefix) ?? "",
        Faults = new FaultSettings(
            NoiseStdDev: a.GetValue(Noise),
            SpikeProbability: a.GetValue(Spikes),
            SpikeMagnitude: 8.0,
            NaNProbability: a.GetValue(NaN),
            OutOfRangeProbability: a.GetValue(OutOfRange),
            DuplicateProbability: a.GetValue(Duplicates)),
    };
}
