using System.Diagnostics;

namespace EdgeActors.Actors.Federated.Gbdt;

/// <summary>Outcome of <see cref="GbdtExperiment.Compare(float[], byte[], int, float[], byte[], int, int, GbdtOptions, int)"/>.</summary>
/// <param name="FederatedAccuracy">Test accuracy of the federated GBDT.</param>
/// <param name="LightGbmAccuracy">Test accuracy of LightGBM with the same hyper-parameters on the pooled training data.</param>
/// <param name="FederatedTrainTime">Wall time of federated training in this thread (all parties and the coordinator in turn: sketches, binning, every level).</param>
/// <param name="LightGbmTrainTime">Wall time of LightGBM training (one thread).</param>
/// <param name="RoundTrips">Levels (request → summed histograms) the federated training took.</param>
/// <param name="MaxHistogramBytes">Largest histogram payload one party sent for one level.</param>
/// <param name="TotalHistogramBytes">Histogram payload one party sent over the whole training.</param>
/// <param name="SketchBytes">Largest sketch payload one party sent.</param>
public sealed record GbdtComparison(
    int TrainRows,
    int TestRows,
    int FeatureCount,
    int Parties,
    GbdtOptions Options,
    double FederatedAccuracy,
    double LightGbmAccuracy,
    TimeSpan FederatedTrainTime,
    TimeSpan LightGbmTrainTime,
    int RoundTrips,
    long MaxHistogramBytes,
    long TotalHistogramBytes,
    long SketchBytes);

/// <summary>Federated GBDT against LightGBM on the same data and hyper-parameters.</summary>
public static class GbdtExperiment
{
    /// <summary>
    /// Fashion-MNIST images (28×28 bytes each, concatenated) → 7×7 pooled features → <see cref="Compare(float[], byte[], int, float[], byte[], int, int, GbdtOptions, int)"/>.
    /// </summary>
    public static GbdtComparison Compare(
        byte[] trainImages, byte[] trainLabels, int trainCount,
        byte[] testImages, byte[] testLabels, int testCount,
        GbdtOptions options, int parties = 2)
    {
        ArgumentNullException.ThrowIfNull(trainImages);
        ArgumentNullException.ThrowIfNull(testImages);
        var trainX = FashionFeatures.Pool7x7(trainImages, trainCount);
        var testX = FashionFeatures.Pool7x7(testImages, testCount);
        return Compare(trainX, trainLabels[..trainCount], trainCount, testX, testLabels[..testCount], testCount, FashionFeatures.FeatureCount, options, parties);
    }

    /// <summary>
    /// Splits the training rows into <paramref name="parties"/> contiguous, near-equal parts, trains the federated GBDT
    /// over them (exact sketches) and LightGBM on all rows, and scores both on the test rows.
    /// </summary>
    public static GbdtComparison Compare(
        float[] trainX, byte[] trainY, int trainRows,
        float[] testX, byte[] testY, int testRows,
        int featureCount, GbdtOptions options, int parties = 2)
    {
        ArgumentNullException.ThrowIfNull(trainX);
        ArgumentNullException.ThrowIfNull(trainY);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(parties, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(trainRows, parties);

        var watch = Stopwatch.StartNew();
        var members = new List<GbdtParty>();
        for (var p = 0; p < parties; p++)
        {
            var start = (int)((long)trainRows * p / parties);
            var end = (int)((long)trainRows * (p + 1) / parties);
            members.Add(new GbdtParty(
                trainX.AsSpan(start * featureCount, (end - start) * featureCount).ToArray(), end - start, featureCount,
                trainY.AsSpan(start, end - start).ToArray(), options.Classes));
        }
        var sketchBytes = 0L;
        var coordinator = new GbdtCoordinator(options, featureCount);
        var sketches = members.Select((m, i) => m.Sketch(int.MaxValue, i)).ToList();
        foreach (var s in sketches) sketchBytes = Math.Max(sketchBytes, s.PayloadBytes);
        var edges = coordinator.MergeSketches(sketches);
        foreach (var m in members) m.SetBins(edges);
        long maxBytes = 0, totalBytes = 0;
        while (coordinator.Next() is { } request)
        {
            var answers = members.Select(m => m.Histograms(request)).ToList();
            maxBytes = Math.Max(maxBytes, answers[0].PayloadBytes);
            totalBytes += answers[0].PayloadBytes;
            coordinator.Accept(LevelHistograms.Sum(answers));
        }
        var model = coordinator.Model;
        watch.Stop();
        var federatedAccuracy = model.Accuracy(testX, testY, testRows);

        using var lightGbm = LightGbmReference.Train(trainX[..(trainRows * featureCount)], trainRows, featureCount, trainY[..trainRows], options.Classes, options);
        var lightGbmAccuracy = lightGbm.Accuracy(testX, testY, testRows);

        return new GbdtComparison(trainRows, testRows, featureCount, parties, options,
            federatedAccuracy, lightGbmAccuracy, watch.Elapsed, lightGbm.TrainTime,
            coordinator.LevelsAccepted, maxBytes, totalBytes, sketchBytes);
    }
}
