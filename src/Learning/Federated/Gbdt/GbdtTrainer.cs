namespace EdgeActors.Learning.Federated.Gbdt;

/// <summary>In-process drivers of the coordinator/party protocol (no actors, no network).</summary>
public static class GbdtTrainer
{
    /// <summary>
    /// Centralised training: the same coordinator with one party holding all rows, exact sketch.
    /// </summary>
    public static GbdtModel TrainCentral(float[] features, int rows, int featureCount, byte[] labels, GbdtOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var party = new GbdtParty(features, rows, featureCount, labels, options.Classes);
        return TrainFederated([party], options);
    }

    /// <summary>
    /// Federated training over <paramref name="parties"/>, run in this thread: sketches → merged edges → binning →
    /// one round trip per tree level, histograms summed in party order. <paramref name="onLevel"/> sees every
    /// request with its summed answer (for message-size accounting).
    /// </summary>
    /// <param name="maxSketchSamples">Rows each party may sketch (more rows are sampled); the default sketches every row.</param>
    public static GbdtModel TrainFederated(
        IReadOnlyList<GbdtParty> parties,
        GbdtOptions options,
        int maxSketchSamples = int.MaxValue,
        int seed = 0,
        Action<LevelRequest, LevelHistograms>? onLevel = null)
    {
        ArgumentNullException.ThrowIfNull(parties);
        ArgumentNullException.ThrowIfNull(options);
        if (parties.Count == 0) throw new ArgumentException("at least one party is needed.", nameof(parties));
        var featureCount = parties[0].FeatureCount;
        foreach (var p in parties)
        {
            ArgumentNullException.ThrowIfNull(p);
            if (p.FeatureCount != featureCount) throw new ArgumentException($"parties have {featureCount} and {p.FeatureCount} features.", nameof(parties));
            if (p.Classes != options.Classes) throw new ArgumentException($"a party has {p.Classes} classes; the options say {options.Classes}.", nameof(parties));
        }
        var coordinator = new GbdtTreeGrower(options, featureCount);
        var edges = coordinator.MergeSketches(parties.Select((p, i) => p.Sketch(maxSketchSamples, seed + i)).ToList());
        foreach (var p in parties) p.SetBins(edges);
        while (coordinator.Next() is { } request)
        {
            var summed = LevelHistograms.Sum(parties.Select(p => p.Histograms(request)));
            onLevel?.Invoke(request, summed);
            coordinator.Accept(summed);
        }
        return coordinator.Model;
    }
}
