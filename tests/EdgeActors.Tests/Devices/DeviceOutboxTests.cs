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
    public void A_full_outbox_with_reject_new_should_refuse_readings_clearly_and_accept_them_once_there_is_room()
    {
        var record = new SyncRecord(Id, RecordKind.Telemetry, 1, 1, SyncPriority.Routine, [1f, 2f], [], -1, null);
        var perRecord = SqliteOutbox.SizeOf(record, 60); // rough upper bound of one reading's footprint
        var settings = new OutboxSettings { MaxBytes = perRecord * 30, Policy = OutboxFullPolicy.RejectNew };
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

        // sync frees the space; the refused readings are accepted on resend (not Duplicates: they were never kept)
        writer.Tell(new OutboxWriter.Peek(1000, new HashSet<long>()), TestActor);
        var ids = ExpectMsg<OutboxWriter.Peeked>(Wait).Entries.Select(e => e.Id).ToArray();
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
