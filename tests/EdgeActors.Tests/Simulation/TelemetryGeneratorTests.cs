using EdgeActors.Messages;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Tests.Simulation;

public sealed class TelemetryGeneratorTests
{
    private static readonly DeviceId Device = new("sensor-7");
    private const long Start = 1_700_000_000_000;

    [Fact]
    public void Same_seed_should_give_identical_batches()
    {
        var faults = new FaultSettings(DuplicateProbability: 0.05, OutOfRangeProbability: 0.01);
        var a = new TelemetryGenerator(Device, 4, faults, seed: 42);
        var b = new TelemetryGenerator(Device, 4, faults, seed: 42);

        for (var batch = 0; batch < 5; batch++)
        {
            var x = a.NextBatch(200, Start + batch * 2000, 10);
            var y = b.NextBatch(200, Start + batch * 2000, 10);
            Assert.Equal(x.DeviceId, y.DeviceId);
            Assert.Equal(x.Sequences, y.Sequences);
            Assert.Equal(x.Timestamps, y.Timestamps);
            Assert.Equal(x.Values, y.Values); // float equality treats NaN == NaN
        }
        Assert.Equal(a.InjectedNaN, b.InjectedNaN);
        Assert.Equal(a.InjectedSpikes, b.InjectedSpikes);
        Assert.Equal(a.InjectedDuplicates, b.InjectedDuplicates);
        Assert.Equal(a.NextSequence, b.NextSequence);
    }

    [Fact]
    public void Different_seeds_should_give_different_values()
    {
        var a = new TelemetryGenerator(Device, 3, new FaultSettings(), seed: 1).NextBatch(50, Start, 100);
        var b = new TelemetryGenerator(Device, 3, new FaultSettings(), seed: 2).NextBatch(50, Start, 100);

        Assert.NotEqual(a.Values, b.Values);
    }

    [Fact]
    public void Batch_should_have_the_documented_shape()
    {
        var gen = new TelemetryGenerator(Device, 3, new FaultSettings(), seed: 5);

        var batch = gen.NextBatch(10, Start, 250);

        Assert.Equal(Device, batch.DeviceId);
        Assert.Equal(3, batch.Channels);
        Assert.Equal(10, batch.Count);
        Assert.Equal(30, batch.Values.Length);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => Start + i * 250L), batch.Timestamps);
    }

    [Fact]
    public void Sequences_should_be_consecutive_from_1_across_batches()
    {
        var gen = new TelemetryGenerator(Device, 2, new FaultSettings(), seed: 9);
        Assert.Equal(1, gen.NextSequence);

        var first = gen.NextBatch(100, Start, 10);
        var second = gen.NextBatch(50, Start + 1000, 10);

        Assert.Equal(Enumerable.Range(1, 150).Select(i => (long)i), first.Sequences.Concat(second.Sequences));
        Assert.Equal(151, gen.NextSequence);
        Assert.Equal(0, gen.InjectedDuplicates);
    }

    [Fact]
    public void Injected_NaN_count_should_equal_the_NaN_values_present()
    {
        var gen = new TelemetryGenerator(Device, 8, new FaultSettings(NaNProbability: 0.01), seed: 3);

        long nans = 0;
        for (var i = 0; i < 20; i++)
            nans += gen.NextBatch(500, Start + i * 5000, 10).Values.Count(float.IsNaN);

        Assert.Equal(gen.InjectedNaN, nans);
        Assert.InRange(nans, 600, 1000); // 80,000 values at 1 %: expect 800
    }

    [Fact]
    public void Values_should_stay_within_range_without_out_of_range_faults()
    {
        var gen = new TelemetryGenerator(Device, 6, new FaultSettings(SpikeProbability: 0.05, SpikeMagnitude: 50), seed: 11);

        var values = gen.NextBatch(20_000, Start, 10).Values;

        Assert.All(values.Where(v => !float.IsNaN(v)), v => Assert.InRange(v, -1e6f, 1e6f));
        Assert.Equal(0, gen.InjectedOutOfRange);
    }

    [Fact]
    public void Out_of_range_faults_should_be_counted_and_far_outside_the_range()
    {
        var gen = new TelemetryGenerator(Device, 4, new FaultSettings(OutOfRangeProbability: 0.02), seed: 12);

        var values = gen.NextBatch(10_000, Start, 10).Values;

        var outside = values.Count(v => !float.IsNaN(v) && Math.Abs(v) > 1e6f);
        Assert.Equal(gen.InjectedOutOfRange, outside);
        Assert.InRange(outside, 600, 1000); // 40,000 values at 2 %: expect 800
        Assert.All(values.Where(v => Math.Abs(v) > 1e6f), v => Assert.Equal(1e9f, v));
    }

    [Fact]
    public void Spike_rate_should_be_near_its_probability_over_100k_readings()
    {
        // Same seed and noise, spikes switched off: the underlying values are identical, so every difference is a spike.
        var spiky = new TelemetryGenerator(Device, 1, new FaultSettings(SpikeProbability: 0.01, NaNProbability: 0), seed: 77);
        var clean = new TelemetryGenerator(Device, 1, new FaultSettings(SpikeProbability: 0, NaNProbability: 0), seed: 77);

        var a = spiky.NextBatch(100_000, Start, 10).Values;
        var b = clean.NextBatch(100_000, Start, 10).Values;

        var spikes = 0;
        var smallestJump = double.MaxValue;
        for (var i = 0; i < a.Length; i++)
        {
            if (a[i] == b[i]) continue;
            spikes++;
            smallestJump = Math.Min(smallestJump, Math.Abs(a[i] - b[i]));
        }

        Assert.Equal(spiky.InjectedSpikes, spikes);
        // Binomial(100000, 0.01): mean 1000, sd ~31.5; [850, 1150] is ~4.8 sd either side.
        Assert.InRange(spikes, 850, 1150);
        // A spike is SpikeMagnitude (8) amplitudes: far larger than the noise, whatever the amplitude.
        var noiseSpread = StdDev(b.Select((v, i) => (double)v - (i > 0 ? b[i - 1] : v)).Skip(1));
        Assert.True(smallestJump > 10 * noiseSpread, $"smallest spike {smallestJump}, noise spread {noiseSpread}");
    }

    [Fact]
    public void Duplicates_should_share_the_previous_sequence()
    {
        var gen = new TelemetryGenerator(Device, 2, new FaultSettings(DuplicateProbability: 0.1), seed: 21);

        var batches = Enumerable.Range(0, 10).Select(i => gen.NextBatch(1000, Start + i * 10_000, 10)).ToArray();
        var sequences = batches.SelectMany(b => b.Sequences).ToArray();

        Assert.Equal(1, sequences[0]);
        var duplicates = 0;
        for (var i = 1; i < sequences.Length; i++)
        {
            var delta = sequences[i] - sequences[i - 1];
            Assert.True(delta is 0 or 1, $"sequence {sequences[i]} follows {sequences[i - 1]} at reading {i}");
            if (delta == 0) duplicates++;
        }

        Assert.Equal(gen.InjectedDuplicates, duplicates);
        Assert.InRange(duplicates, 800, 1200); // 9,999 eligible readings at 10 %
        Assert.Equal(sequences[^1] + 1, gen.NextSequence);
        Assert.Equal(sequences.Length - duplicates, sequences.Distinct().Count());
    }

    [Fact]
    public void No_faults_should_give_a_smooth_signal()
    {
        var gen = new TelemetryGenerator(Device, 3, FaultSettings.None, seed: 8);

        var batch = gen.NextBatch(1000, Start, 100);

        Assert.DoesNotContain(batch.Values, float.IsNaN);
        for (var c = 0; c < 3; c++)
        {
            var channel = Enumerable.Range(0, 1000).Select(i => batch.Values[i * 3 + c]).ToArray();
            var range = channel.Max() - channel.Min();
            Assert.True(range > 0.5, $"channel {c} is flat");
            for (var i = 1; i < channel.Length; i++)
                Assert.True(Math.Abs(channel[i] - channel[i - 1]) < range / 10, $"channel {c} jumps at {i}");
        }
        Assert.Equal(0, gen.InjectedNaN + gen.InjectedSpikes + gen.InjectedOutOfRange + gen.InjectedDuplicates);
    }

    [Fact]
    public void Invalid_settings_should_be_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new TelemetryGenerator(Device, 0, new FaultSettings(), 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TelemetryGenerator(Device, 1, new FaultSettings(SpikeProbability: 1.5), 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TelemetryGenerator(Device, 1, new FaultSettings(NoiseStdDev: double.NaN), 1));
    }

    private static double StdDev(IEnumerable<double> xs)
    {
        var list = xs.ToArray();
        var mean = list.Average();
        return Math.Sqrt(list.Sum(x => (x - mean) * (x - mean)) / list.Length);
    }
}
