using EdgeActors.Storage;
using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Configuration;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Devices;

/// <summary>A device entity writing through a real outbox writer over a real SQLite outbox file.</summary>
public sealed class DeviceOutboxTests : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private static readonly DeviceId Id = new("sensor-outbox");
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgeactors-device-outbox-" + Guid.NewGuid().ToString("N"));

    public DeviceOutboxTests() : base(ConfigurationFactory.ParseString("akka.loglevel = WARNING").WithFallback(EdgeSerialization.Config))
    {
    }

    void IDisposable.Dispose()
    {
        Shutdown();
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static TelemetryBatch Batch(long first, int n) =>
        new(Id, 2, Enumerable.Range(0, n).Select(i => first + i).ToArray(), Enumerable.Range(0, n).Select(i => 1_700_000_000_000L + first + i).ToArray(),
            Enumerable.Range(0, 2 * n).Select(i => 20f + i % 7).ToArray());

    private (IActorRef Device, IActorRef Writer, SqliteOutbox Outbox) Start(OutboxSettings settings)
    {
        var outbox = new SqliteOutbox(settings with { Path = Path.Combine(_dir, "outbox.db") });
        var writer = Sys.ActorOf(OutboxWriter.Props(outbox, settings));
        var device = Sys.ActorOf(DeviceActor.Props(Id, IngestionSettings.Default, new DeviceServices(null, writer, null)));
        return (device, writer, outbox);
    }

    [Fact]
    public void Accepted_readings_should_be_in_the_outbox_before_the_ack_says_durable()
    {
        var (device, writer, _) = Start(new OutboxSettings());
        device.Tell(Batch(1, 50), TestActor);
        var ack = ExpectMsg<IngestAck>(Wait);
        Assert.Equal((50, AckLevel.DurableOnEdge), (ack.Accepted, ack.Level));

        writer.Tell(OutboxWriter.GetStats.Instance, TestActor);
        Assert.Equal(50, ExpectMsg<OutboxStats>(Wait).Backlog);
        writer.Tell(new OutboxWriter.Peek(100, new HashSet<long>()), TestActor);
        var entries = ExpectMsg<OutboxWriter.Peeked>(Wait).Entries;
        // one batch record for the batch (no anomalies: one routine record), its readings in order
        var record = Assert.Single(entries).Record;
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), record.Sequences!);
        Assert.Equal((Id, RecordKind.Telemetry, 2, SyncPriority.Routine), (record.DeviceId, record.Kind, record.Channels, record.Priority));
        Assert.Equal(Enumerable.Range(1, 50).Select(i => 1_700_000_000_000L + i), record.Timestamps!);

        // a resend of what is durable is a Duplicate, and still reported durable
        device.Tell(Batch(1, 50), TestActor);
        var again = ExpectMsg<IngestAck>(Wait);
        Assert.Equal((0, AckLevel.DurableOnEdge), (again.Accepted, again.Level));
        Assert.All(again.Rejected, r => Assert.Equal(RejectReason.Duplicate, r.Reason));
    }

    [Fact]
    public void A_batch_with_anomalies_should_be_written_as_an_anomaly_record_then_a_routine_record()
    {
        var outbox = new SqliteOutbox(new OutboxSettings { Path = Path.Combine(_dir, "outbox.db") });
        var writer = Sys.ActorOf(OutboxWriter.Props(outbox, new OutboxSettings()));
        var device = Sys.ActorOf(DeviceActor.Props(Id, IngestionSettings.Default, new DeviceServices(null, writer, null)));
        // a steady signal (warms up the running statistics), then a batch with a long step far outside it
        device.Tell(Batch(1, 200), TestActor);
        Assert.Equal(200, ExpectMsg<IngestAck>(Wait).Accepted);
        var seqs = Enumerable.Range(201, 40).Select(i => (long)i).ToArray();
        var values = seqs.SelectMany(q => q is >= 221 and < 231 ? new[] { 5_000f, 5_000f } : new[] { 20f + q % 7, 20f + (q + 1) % 7 }).ToArray();
        device.Tell(new TelemetryBatch(Id, 2, seqs, seqs.Select(q => 1_700_000_000_000L + q).ToArray(), values), TestActor);
        var ack = ExpectMsg<IngestAck>(Wait);
        Assert.Equal((40, AckLevel.DurableOnEdge), (ack.Accepted, ack.Level));

        writer.Tell(new OutboxWriter.Peek(10_000, new HashSet<long>()), TestActor);
        var records = ExpectMsg<OutboxWriter.Peeked>(Wait).Entries.Select(e => e.Record).ToArray();
        Assert.Equal(3, records.Length); // the first batch (routine), then the second one split in two
        Assert.Equal([SyncPriority.Routine, SyncPriority.Anomaly, SyncPriority.Routine], records.Select(r => r.Priority));
        var anomalies = records[1].Sequences!;
        Assert.All(anomalies, q => Assert.InRange(q, 221, 240)); // the step (and the readings right after it, still far off)
        Assert.Equal(anomalies.Order(), anomalies); // each part in acceptance order
        Assert.Equal(records[2].Sequences!.Order(), records[2].Sequences!);
        Assert.Equal(seqs, anomalies.Concat(records[2].Sequences!).Order()); // together: exactly the batch
        Assert.All(records, r => Assert.Equal(2, r.Channels));
        for (var i = 0; i < records[1].Count; i++) Assert.True(records[1].ValuesAt(i)[0] > 100f);
    }

    [Fact]
    public void A_full_outbox_with_reject_new_should_refuse_readings_clearly_and_accept_them_once_there_is_room()
    {
        // room for about half of the batch's record
        var whole = SyncRecord.Readings(Id, SyncPriority.Routine, [.. Enumerable.Range(1, 100).Select(i => (long)i)],
            [.. Enumerable.Range(1, 100).Select(i => 1_700_000_000_000L + i)], new float[200]);
        var settings = new OutboxSettings { MaxBytes = SqliteOutbox.SizeOf(whole, RecordCodec.Encode(whole).Length) / 2, Policy = OutboxFullPolicy.RejectNew };
        var (device, writer, _) = Start(settings);

        device.Tell(Batch(1, 100), TestActor);
        var ack = ExpectMsg<IngestAck>(Wait);
        Assert.InRange(ack.Accepted, 1, 99);
        var refused = ack.Rejected.Where(r => r.Reason == RejectReason.OutboxFull).ToArray();
        Assert.Equal(100 - ack.Accepted, refused.Length);
        Assert.Contains("outbox is full", refused[0].Detail);
        writer.Tell(OutboxWriter.GetStats.Instance, TestActor);
        var stats = ExpectMsg<OutboxStats>(Wait);
        Assert.Equal(ack.Accepted, stats.Backlog);
        Assert.Equal(refused.Length, stats.Refused);

        // exactly the refused sequences were taken back: what the outbox holds and what was refused split the batch
        writer.Tell(new OutboxWriter.Peek(1000, new HashSet<long>()), TestActor);
        var entries = ExpectMsg<OutboxWriter.Peeked>(Wait).Entries;
        var kept = entries.SelectMany(e => Enumerable.Range(0, e.Record.Count).Select(i => e.Record.SequenceAt(i))).ToArray();
        Assert.Equal(ack.Accepted, kept.Length);
        Assert.Empty(kept.Intersect(refused.Select(r => r.Sequence)));
        Assert.Equal(Enumerable.Range(1, 100).Select(i => (long)i), kept.Concat(refused.Select(r => r.Sequence)).Order());
        device.Tell(Batch(1, 1), TestActor); // a kept one is a Duplicate
        Assert.Equal(RejectReason.Duplicate, Assert.Single(ExpectMsg<IngestAck>(Wait).Rejected).Reason);

        // sync frees the space; the refused readings are accepted on resend (not Duplicates: they were never kept)
        var ids = entries.Select(e => e.Id).ToArray();
        writer.Tell(new OutboxWriter.Remove(ids), TestActor);
        ExpectMsg<OutboxWriter.Removed>(Wait);
        var resend = new TelemetryBatch(Id, 2, refused.Select(r => r.Sequence).ToArray(),
            refused.Select(r => 1_700_000_000_000L + r.Sequence).ToArray(), Enumerable.Repeat(21f, 2 * refused.Length).ToArray());
        device.Tell(resend, TestActor);
        var second = ExpectMsg<IngestAck>(Wait);
        Assert.True(second.Accepted > 0);
        // whatever still does not fit is refused again for the same reason, never as a Duplicate or OutOfOrder
        Assert.All(second.Rejected, r => Assert.Equal(RejectReason.OutboxFull, r.Reason));
        Assert.Equal(refused.Length, second.Accepted + second.Rejected.Length);
    }
}
