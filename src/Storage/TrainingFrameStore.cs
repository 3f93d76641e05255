using Microsoft.Data.Sqlite;

namespace EdgeActors.Storage;

/// <summary>
/// An edge's labelled training frames on disk (SQLite, WAL): what its devices sent for local training survives a restart
/// of the edge. Frames are keyed by (device, sequence), so a batch written twice stores each frame once. Thread-safe:
/// each call opens its own pooled connection.
/// </summary>
public sealed class TrainingFrameStore
{
    private readonly string _connectionString;

    public string DatabasePath { get; }

    public TrainingFrameStore(string databasePath)
    {
        if (string.IsNullOrWhiteSpace(databasePath)) throw new ArgumentException("training frame database path is empty", nameof(databasePath));
        DatabasePath = Path.GetFullPath(databasePath);
        _connectionString = SqliteFiles.CreatePooled(DatabasePath, """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS training_frames (
                device TEXT NOT NULL,
                seq INTEGER NOT NULL,
                label INTEGER NOT NULL,
                pixels BLOB NOT NULL,
                PRIMARY KEY (device, seq)) WITHOUT ROWID;
            """);
    }

    /// <summary>Stores <paramref name="labels"/>.Length frames of <paramref name="frameBytes"/> bytes each from <paramref name="firstSequence"/> on, in one transaction.</summary>
    public void Append(string device, long firstSequence, ReadOnlySpan<byte> labels, ReadOnlySpan<byte> pixels, int frameBytes)
    {
        if (pixels.Length != labels.Length * frameBytes)
            throw new ArgumentException($"{pixels.Length} pixel bytes for {labels.Length} frames of {frameBytes} bytes", nameof(pixels));
        using var c = Open();
        using var tx = c.BeginTransaction();
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT OR IGNORE INTO training_frames (device, seq, label, pixels) VALUES ($d, $s, $l, $p)";
        var d = cmd.Parameters.Add("$d", SqliteType.Text);
        var s = cmd.Parameters.Add("$s", SqliteType.Integer);
        var l = cmd.Parameters.Add("$l", SqliteType.Integer);
        var p = cmd.Parameters.Add("$p", SqliteType.Blob);
        d.Value = device;
        for (var i = 0; i < labels.Length; i++)
        {
            s.Value = firstSequence + i;
            l.Value = (int)labels[i];
            p.Value = pixels.Slice(i * frameBytes, frameBytes).ToArray();
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
    }

    /// <summary>One device's stored frames: the first sequence, then labels and pixels of the contiguous run from it.</summary>
    public sealed record DeviceFrames(string Device, long FirstSequence, byte[] Labels, byte[] Pixels);

    /// <summary>Every device's frames, in sequence order (a device's frames are contiguous: the training set refuses gaps).</summary>
    public IEnumerable<DeviceFrames> LoadAll(int frameBytes)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT device, seq, label, pixels FROM training_frames ORDER BY device, seq";
        using var r = cmd.ExecuteReader();
        string? device = null;
        long first = 0;
        var labels = new List<byte>();
        var pixels = new MemoryStream();
        while (r.Read())
        {
            var dev = r.GetString(0);
            if (dev != device)
            {
                if (device is not null) yield return new DeviceFrames(device, first, labels.ToArray(), pixels.ToArray());
                device = dev;
                first = r.GetInt64(1);
                labels.Clear();
                pixels.SetLength(0);
            }
            labels.Add((byte)r.GetInt32(2));
            var blob = (byte[])r.GetValue(3);
            if (blob.Length != frameBytes) throw new InvalidDataException($"{DatabasePath}: frame {dev}/{r.GetInt64(1)} has {blob.Length} bytes, expected {frameBytes}");
            pixels.Write(blob);
        }
        if (device is not null) yield return new DeviceFrames(device, first, labels.ToArray(), pixels.ToArray());
    }

    private SqliteConnection Open() => SqliteFiles.OpenPooled(_connectionString);
}
