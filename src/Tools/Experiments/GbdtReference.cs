using System.Diagnostics;
using System.Globalization;
using EdgeActors.Nodes.Data;
using EdgeActors.Learning.Federated.Gbdt;
using EdgeActors.Learning.Reference;
using EdgeActors.Messages;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Tools.Experiments;

/// <summary>
/// The centralised references for a federated GBDT run, trained in this process on the union of the data the clients
/// uploaded (same features, same hyper-parameters): LightGBM 4.7.0 and our own histogram GBDT with one party.
/// </summary>
public static class GbdtReference
{
    public sealed record Result(double LightGbm, double Central, double LightGbmSeconds, double CentralSeconds);

    public static Result Run(FashionMnist train, int[][] parts, StartGbdt job, string datasetDirectory, Action<string> log)
    {
        var indices = parts.SelectMany(p => p).Order().ToArray();
        var pixels = new byte[indices.Length * TrainingFrames.FrameBytes];
        var labels = new byte[indices.Length];
        for (var i = 0; i < indices.Length; i++)
        {
            train.Image(indices[i]).CopyTo(pixels.AsSpan(i * TrainingFrames.FrameBytes));
            labels[i] = train.Labels[indices[i]];
        }
        var test = FashionMnist.Load(datasetDirectory, train: false);
        var x = FashionFeatures.Pool7x7(pixels, indices.Length);
        var testX = FashionFeatures.Pool7x7(test.Images, test.Count);
        var y = Binarise(labels, job);
        var testY = Binarise(test.Labels, job);
        var options = new GbdtOptions
        {
            Classes = job.Classes, Iterations = job.Iterations, MaxDepth = job.MaxDepth, LearningRate = job.LearningRate, MaxBins = job.MaxBins, Lambda = job.Lambda,
        };
        var clock = Stopwatch.StartNew();
        double lightGbm;
        using (var reference = LightGbmReference.Train(x, indices.Length, FashionFeatures.FeatureCount, y, job.Classes, options))
            lightGbm = reference.Accuracy(testX, testY, test.Count);
        var lightSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var central = GbdtTrainer.TrainCentral(x, indices.Length, FashionFeatures.FeatureCount, y, options).Accuracy(testX, testY, test.Count);
        var centralSeconds = clock.Elapsed.TotalSeconds;
        log(string.Create(CultureInfo.InvariantCulture,
            $"centralised on {indices.Length:N0} rows: LightGBM 4.7.0 {lightGbm:F4} ({lightSeconds:F1} s, 1 thread), our histogram GBDT {central:F4} ({centralSeconds:F1} s)"));
        return new Result(lightGbm, central, lightSeconds, centralSeconds);
    }

    private static byte[] Binarise(byte[] labels, StartGbdt job)
    {
        if (job.Classes != 2) return labels;
        var y = new byte[labels.Length];
        for (var i = 0; i < y.Length; i++) y[i] = labels[i] >= job.BinaryThreshold ? (byte)1 : (byte)0;
        return y;
    }
}
