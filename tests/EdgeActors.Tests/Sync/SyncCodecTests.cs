using System.Runtime.Serialization;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Tests.Serialization;
using Xunit.Abstractions;

namespace EdgeActors.Tests.Sync;

public sealed class SyncCodecTests(ITestOutputHelper output)
{
    private const int Max = 64 * 1024 * 1024;

    [Fact]
    public void Round_trip_is_bit_exact_for_telemetry_and_frames_with_and_without_prediction()
    {
        var records = SampleMessages.Records(telemetry: 50, frames: 3);
        Assert.Contains(records, r => r.Kind == RecordKind.Frame && r.Prediction is null);
        Assert.Contains(records, r => r.Kind == RecordKind.Frame && r.Prediction is not null);
        var payload = SyncCodec.Encode(records, out var raw);
        var back = SyncCodec.Decode(payload, records.Length, raw, Max);
        MessageAssert.Equal(records, back);
    }

    [Fact]
    public void Batch_records_should_round_trip_bit_exact_among_single_records()
    {
        SyncRecord[] records = [.. SampleMessages.Records(telemetry: 5, frames: 1), .. SampleMessages.BatchRecords()];
        var payload = SyncCodec.Encode(records, out var raw);
        var back = SyncCodec.Decode(payload, records.Length, raw, Max);
        MessageAssert.Equal(records, back);
        Assert.Equal([1, 1, 1, 1, 1, 1, 6, 1], back.Select(r => r.Count));
        Assert.True(back[^2].IsBatch && back[^1].IsBatch && !back[0].IsBatch);
    }

    [Fact]
    public void A_batch_record_whose_header_disagrees_with_its_readings_should_fail()
    {
        var good = SampleMessages.BatchRecords()[0];
        foreach (var bad in new[]
                 {
                     good with { Sequence = good.Sequence + 1 },                   // header is not the first reading
                     good with { Timestamps = good.Timestamps![..^1] },           // timestamps shorter than sequences
                     good with { Values = good.Values[..^1] },                    // values not readings x channels
                 })
        {
            var payload = SyncCodec.Encode([bad], out var raw);
            var ex = Assert.Throws<SerializationException>(() => SyncCodec.Decode(payload, 1, raw, Max));
            output.WriteLine(ex.Message);
        }
    }

    [Fact]
    public void Empty_batch_round_trips()
    {
        var payload = SyncCodec.Encode([], out var raw);
        Assert.Equal(0, raw);
        Assert.Empty(SyncCodec.Decode(payload, 0, raw, Max));
    }

    [Fact]
    public void Truncated_payload_fails()
    {
        var records = SampleMessages.Records();
        var payload = SyncCodec.Encode(records, out var raw);
        foreach (var cut in new[] { 1, payload.Length / 2, payload.Length - 1 })
        {
            var ex = Assert.Throws<SerializationException>(() => SyncCodec.Decode(payload[..cut], records.Length, raw, Max));
            output.WriteLine($"cut {cut}: {ex.Message}");
        }
    }

    [Fact]
    public void Garbage_payload_fails()
    {
        var garbage = new byte[5000];
        new Random(3).NextBytes(garbage);
        Assert.Throws<SerializationException>(() => SyncCodec.Decode(garbage, 10, 100_000, Max));
        Assert.Throws<SerializationException>(() => SyncCodec.Decode([], 0, 0, Max));
    }

    [Fact]
    public void Wrong_count_or_raw_size_fails()
    {
        var records = SampleMessages.Records();
        var payload = SyncCodec.Encode(records, out var raw);
        Assert.Throws<SerializationException>(() => SyncCodec.Decode(payload, records.Length - 1, raw, Max)); // trailing record
        Assert.Throws<SerializationException>(() => SyncCodec.Decode(payload, records.Length + 1, raw, Max)); // missing record
        Assert.Throws<SerializationException>(() => SyncCodec.Decode(payload, records.Length, raw - 1, Max));
        Assert.Throws<SerializationException>(() => SyncCodec.Decode(payload, records.Length, raw + 1, Max));
        Assert.Throws<SerializationException>(() => SyncCodec.Decode(payload, records.Length, raw, raw - 1)); // over the cap
        Assert.Throws<SerializationException>(() => SyncCodec.Decode(payload, -1, raw, Max));
    }

    [Fact]
    public void Decompression_bomb_is_capped()
    {
        // 256 MiB of zeros compresses to a few hundred bytes; claiming 1 MiB must stop at 1 MiB
        var zeros = new byte[256 * 1024 * 1024];
        var bomb = SyncCompression.Compress(zeros);
        output.WriteLine($"bomb: {bomb.Length} bytes -> {zeros.Length} bytes");
        zeros = null;
        var before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<SerializationException>(() => SyncCodec.Decode(bomb, 1000, 1024 * 1024, Max));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"{ex.Message}; allocated {allocated} bytes");
        Assert.Contains("more than", ex.Message);
        Assert.True(allocated < 4 * 1024 * 1024, $"allocated {allocated} bytes");
        // announcing the true size is refused by the cap before anything is decompressed
        Assert.Throws<SerializationException>(() => SyncCodec.Decode(bomb, 1000, 256 * 1024 * 1024, Max));
    }

    [Fact]
    public void Realistic_telemetry_compresses()
    {
        // 1000 readings, 4 channels, 10 devices, consecutive sequences, 100 ms apart, smooth signals with sensor noise
        var rng = new Random(5);
        var records = new List<SyncRecord>();
        for (var i = 0; i < 1000; i++)
        {
            var device = i % 10;
            var values = new float[4];
            for (var c = 0; c < 4; c++)
                values[c] = (float)Math.Round(20 + c * 10 + 3 * Math.Sin(i / 50.0 + c) + rng.NextDouble() * 0.2, 2);
            records.Add(new SyncRecord(new DeviceId($"plant-3/line-7/sensor-{device:D4}"), RecordKind.Telemetry, 1_000_000 + i / 10,
                1_735_689_600_000 + i * 100L, SyncPriority.Routine, values, [], -1, null));
        }
        var payload = SyncCodec.Encode(records, out var raw);
        var ratio = (double)raw / payload.Length;
        output.WriteLine($"telemetry: {records.Count} records, raw {raw} bytes, Brotli {payload.Length} bytes, ratio {ratio:F2}");
        Console.WriteLine($"SYNC-COMPRESSION telemetry raw={raw} compressed={payload.Length} ratio={ratio:F2}");
        Assert.True(ratio > 1.5, $"ratio {ratio:F2}");
        MessageAssert.Equal(records, SyncCodec.Decode(payload, records.Count, raw, Max));
    }
}
