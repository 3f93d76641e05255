using EdgeActors.Storage;
using EdgeActors.Client.Serialization;
using Akka.Actor;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Tests.Serialization;

namespace EdgeActors.Tests.Sync;

/// <summary>The sink over a real <see cref="SqliteDataStore"/> in a temporary directory.</summary>
public sealed class SyncSinkTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgeactors-sink-" + Guid.NewGuid().ToString("N"));

    public SyncSinkTests() : base(EdgeSerialization.Config)
    {
    }

    private (IActorRef Sink, SqliteDataStore Store) Start(SyncSinkSettings? settings = null)
    {
        var store = new SqliteDataStore(Path.Combine(_dir, "dc.db"));
        return (Sys.ActorOf(SyncSink.Props(store, settings ?? SyncSinkSettings.Default, "dc-1")), store);
    }

    private static SyncBatch BatchOf(SyncRecord[] records, long id, string edge = "edge-1")
    {
        var payload = SyncCodec.Encode(records, out var raw);
        return new SyncBatch(edge, id, records.Length, raw, payload);
    }

    [Fact]
    public void Stores_a_batch_and_counts_duplicates_on_resend()
    {
        var (sink, store) = Start();
        var records = SampleMessages.Records(telemetry: 20, frames: 3);
        sink.Tell(BatchOf(records, 1));
        var ack = ExpectMsg<SyncAck>(Wait);
        Assert.Equal(new SyncAck("edge-1", 1, records.Length, 0, "dc-1"), ack);
        sink.Tell(BatchOf(records, 2));
        Assert.Equal(new SyncAck("edge-1", 2, 0, records.Length, "dc-1"), ExpectMsg<SyncAck>(Wait));
        Assert.Equal(20, store.Count(RecordKind.Telemetry));
        Assert.Equal(3, store.Count(RecordKind.Frame));
    }

    [Fact]
    public void Oversized_batches_are_rejected_at_once()
    {
        var (sink, _) = Start(new SyncSinkSettings(MaxRecordsPerBatch: 10, MaxRawBytes: 1000));
        sink.Tell(BatchOf(SampleMessages.Records(telemetry: 11, frames: 0), 1));
        Assert.Contains("limit", ExpectMsg<SyncRejected>(Wait).Reason);
        sink.Tell(BatchOf(SampleMessages.Records(telemetry: 0, frames: 2), 2)); // 2 x 784 pixels > 1000 raw bytes
        Assert.Contains("raw size", ExpectMsg<SyncRejected>(Wait).Reason);
    }

    [Fact]
    public void A_bad_batch_is_rejected_alone_and_later_batches_are_stored()
    {
        var (sink, store) = Start();
        var good = SampleMessages.Records(telemetry: 10, frames: 0);
        var bad = BatchOf(good, 1);
        var garbled = bad.Payload.ToArray();
        garbled[garbled.Length / 2] ^= 0x5A;
        sink.Tell(bad with { Payload = garbled[..(garbled.Length / 2)] }); // truncated
        sink.Tell(bad with { BatchId = 2, Count = bad.Count + 1 }); // count mismatch
        sink.Tell(BatchOf(good, 3));
        var first = ExpectMsg<SyncRejected>(Wait);
        Assert.Equal(1, first.BatchId);
        Assert.Contains("malformed", first.Reason);
        Assert.Equal(2, ExpectMsg<SyncRejected>(Wait).BatchId);
        Assert.Equal(new SyncAck("edge-1", 3, 10, 0, "dc-1"), ExpectMsg<SyncAck>(Wait));
        Assert.Equal(10, store.Count());
    }

    [Fact]
    public void SyncSink_should_keep_storing_into_a_store_it_was_given_after_a_restart()
    {
        using var store = new SqliteDataStore(Path.Combine(_dir, "dc.db")); // created here, so disposed here
        var sink = ChildActorOf(SyncSink.Props(store, SyncSinkSettings.Default, "dc-1"), new OneForOneStrategy(_ => Directive.Restart));
        var records = SampleMessages.Records(telemetry: 10, frames: 0);
        sink.Tell(BatchOf(records[..5], 1));
        Assert.Equal(new SyncAck("edge-1", 1, 5, 0, "dc-1"), ExpectMsg<SyncAck>(Wait));

        sink.Tell(Kill.Instance); // the supervisor restarts it
        sink.Tell(BatchOf(records[5..], 2));

        Assert.Equal(new SyncAck("edge-1", 2, 5, 0, "dc-1"), ExpectMsg<SyncAck>(Wait));
        Assert.Equal(10, store.Count(RecordKind.Telemetry));
    }

    [Fact]
    public void Many_queued_batches_are_stored_one_at_a_time_in_order()
    {
        var (sink, store) = Start();
        for (var i = 0; i < 10; i++)
        {
            var recs = SampleMessages.Records(telemetry: 10, frames: 0)
                .Select(r => r with { Sequence = r.Sequence + i * 100 }).ToArray();
            sink.Tell(BatchOf(recs, i));
        }
        for (var i = 0; i < 10; i++) Assert.Equal(i, ExpectMsg<SyncAck>(Wait).BatchId);
        Assert.Equal(100, store.Count());
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
