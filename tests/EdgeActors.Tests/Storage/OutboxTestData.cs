using EdgeActors.Storage;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Storage;

internal sealed class TempDb : IDisposable
{
    public string Dir { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "edgeactors-outbox-" + Guid.NewGuid().ToString("N"));
    public string Path => System.IO.Path.Combine(Dir, "outbox.db");

    public TempDb() => Directory.CreateDirectory(Dir);

    public OutboxSettings Settings(long maxBytes = 256L * 1024 * 1024, OutboxFullPolicy policy = OutboxFullPolicy.OverwriteOldest) =>
        new() { Path = Path, MaxBytes = maxBytes, Policy = policy };

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

internal static class Rec
{
    public static SyncRecord Telemetry(string device, long seq, SyncPriority priority = SyncPriority.Routine, int channels = 4) =>
        new(new DeviceId(device), RecordKind.Telemetry, seq, 1_000 + seq, priority,
            Enumerable.Range(0, channels).Select(i => seq * 0.5f + i).ToArray(), [], -1, null);

    public static SyncRecord Frame(string device, long seq, SyncPriority priority = SyncPriority.HardExample, bool withPrediction = true) =>
        new(new DeviceId(device), RecordKind.Frame, seq, 2_000 + seq, priority, [],
            Enumerable.Range(0, 784).Select(i => (byte)((i + seq) % 256)).ToArray(), 3,
            withPrediction ? new Prediction(7, 0.41f, "mnist", 2, "edge-1", true, PredictionNote.EscalationUnavailable) : null);

    /// <summary>Records are compared field by field (arrays by content, floats by bits).</summary>
    public static void Same(SyncRecord expected, SyncRecord actual)
    {
        Assert.Equal(expected.DeviceId, actual.DeviceId);
        Assert.Equal(expected.Kind, actual.Kind);
        Assert.Equal(expected.Sequence, actual.Sequence);
        Assert.Equal(expected.Timestamp, actual.Timestamp);
        Assert.Equal(expected.Priority, actual.Priority);
        Assert.Equal(expected.Values.Select(BitConverter.SingleToInt32Bits), actual.Values.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(expected.Pixels, actual.Pixels);
        Assert.Equal(expected.Label, actual.Label);
        Assert.Equal(expected.Prediction, actual.Prediction);
    }
}
