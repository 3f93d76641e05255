using Akka.Actor;
using EdgeActors.Actors.Sync;
using EdgeActors.Client.Serialization;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Storage;
using EdgeActors.Tests.Serialization;
using Npgsql;

namespace EdgeActors.Tests.Sync;

/// <summary>
/// The sink when its data store cannot be reached: over a PostgreSQL server of the test's own (<see cref="LocalPostgres"/>,
/// started and stopped here; the shared test server is not touched), and over a store that cannot be opened at all.
/// </summary>
public sealed class SyncSinkOutageTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private static readonly SyncSinkSettings Fast = SyncSinkSettings.Default with
    {
        StoreRetryMin = TimeSpan.FromMilliseconds(100),
        StoreRetryMax = TimeSpan.FromMilliseconds(500),
    };

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgeactors-tests", "sink-outage-" + Guid.NewGuid().ToString("N"));

    public SyncSinkOutageTests() : base(EdgeSerialization.Config)
    {
    }

    private static SyncBatch BatchOf(SyncRecord[] records, long id, string edge = "edge-1")
    {
        var payload = SyncCodec.Encode(records, out var raw);
        return new SyncBatch(edge, id, records.Length, raw, payload);
    }

    private SinkHealth Health(IActorRef sink)
    {
        sink.Tell(GetSinkHealth.Instance);
        return ExpectMsg<SinkHealth>(Wait);
    }

    /// <summary>Sends <paramref name="batch"/> until it is acknowledged (refusals while the store comes back are expected), returning the ack.</summary>
    private SyncAck SendUntilAcked(IActorRef sink, SyncBatch batch)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            sink.Tell(batch);
            var reply = ExpectMsg<object>(Wait);
            if (reply is SyncAck ack) return ack;
            var rejected = Assert.IsType<SyncRejected>(reply);
            Assert.StartsWith(SyncSink.StoreUnavailable, rejected.Reason);
            Assert.True(DateTime.UtcNow < deadline, $"batch {batch.BatchId} still refused: {rejected.Reason}");
            Thread.Sleep(200);
        }
    }

    [Fact]
    public async Task SyncSink_should_start_without_PostgreSQL_refuse_batches_with_a_reason_and_store_them_once_it_is_back()
    {
        Assert.True(LocalPostgres.FindBinaries(out var why) is not null, why);
        using var pg = await LocalPostgres.InitAsync(_dir, LocalCluster.FreePort()); // initialised, not running
        var sink = Sys.ActorOf(SyncSink.Props(() => new PostgresDataStore(pg.ConnectionString()), Fast, "dc-1"));

        // the server is not running: the sink is up, not ready, and refuses with the reason
        AwaitAssert(() => Assert.Contains(SyncSink.StoreUnavailable, Health(sink).Detail), Wait);
        Assert.False(Health(sink).StoreAvailable);
        var records = SampleMessages.Records(telemetry: 30, frames: 2);
        var first = BatchOf(records[..16], 1);
        var second = BatchOf(records[16..], 2);
        sink.Tell(first);
        var refused = ExpectMsg<SyncRejected>(Wait);
        Assert.StartsWith(SyncSink.StoreUnavailable, refused.Reason);
        Assert.Equal(1, refused.BatchId);

        // it starts: the sink becomes ready by itself (migrations applied lazily) and stores
        await pg.StartAsync();
        AwaitAssert(() => Assert.True(Health(sink).StoreAvailable), Wait, TimeSpan.FromMilliseconds(100));
        Assert.Equal(new SyncAck("edge-1", 1, 16, 0, "dc-1"), ExpectAck(sink, first));

        // stopped mid-run (fast shutdown: pooled connections are cut): refused again, with the reason
        await pg.StopAsync();
        sink.Tell(second);
        Assert.StartsWith(SyncSink.StoreUnavailable, ExpectMsg<SyncRejected>(Wait).Reason);
        Assert.False(Health(sink).StoreAvailable);
        sink.Tell(second);
        Assert.StartsWith(SyncSink.StoreUnavailable, ExpectMsg<SyncRejected>(Wait).Reason); // at once, without waiting on the server

        // back: the resent batch is stored, a resend of the first is counted as duplicates, nothing twice
        await pg.StartAsync();
        Assert.Equal(new SyncAck("edge-1", 2, records.Length - 16, 0, "dc-1"), SendUntilAcked(sink, second));
        Assert.Equal(new SyncAck("edge-1", 1, 0, 16, "dc-1"), SendUntilAcked(sink, first));
        Assert.True(Health(sink).StoreAvailable);
        Assert.True(Health(sink).Refused >= 3);
        NpgsqlConnection.ClearAllPools();
        Assert.Equal((long)records.Length, await pg.ScalarAsync("SELECT COUNT(*) FROM records"));
        Assert.Equal((long)records.Length, await pg.ScalarAsync("SELECT COUNT(*) FROM (SELECT DISTINCT device, kind, seq FROM records) d"));
        Sys.Stop(sink);
        await Task.Delay(200);
    }

    private SyncAck ExpectAck(IActorRef sink, SyncBatch batch)
    {
        sink.Tell(batch);
        return ExpectMsg<SyncAck>(Wait);
    }

    [Fact]
    public void SyncSink_should_start_and_refuse_batches_naming_the_reason_when_its_store_cannot_be_opened()
    {
        var opens = 0;
        var sink = Sys.ActorOf(SyncSink.Props(() =>
        {
            Interlocked.Increment(ref opens);
            throw new IOException("disk /dc not mounted");
        }, Fast, "dc-1"));
        sink.Tell(BatchOf(SampleMessages.Records(telemetry: 3, frames: 0), 1));
        var refused = ExpectMsg<SyncRejected>(Wait);
        Assert.StartsWith(SyncSink.StoreUnavailable, refused.Reason);
        Assert.Contains("disk /dc not mounted", refused.Reason);
        var health = Health(sink);
        Assert.False(health.StoreAvailable);
        Assert.Contains("cannot open the data store", health.Detail);
        AwaitCondition(() => Volatile.Read(ref opens) >= 3, Wait); // it keeps trying, with backoff
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
