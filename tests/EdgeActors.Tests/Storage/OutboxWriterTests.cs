using EdgeActors.Storage;
using System.Diagnostics;
using Akka.Actor;
using Akka.TestKit;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using Xunit.Abstractions;

namespace EdgeActors.Tests.Storage;

public sealed class OutboxWriterTests : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly TempDb _tmp = new();
    private readonly ITestOutputHelper _output;

    public OutboxWriterTests(ITestOutputHelper output) => _output = output;

    void IDisposable.Dispose()
    {
        Shutdown();
        _tmp.Dispose();
    }

    [Fact]
    public void OutboxWriter_should_group_concurrent_writes_into_few_transactions()
    {
        var settings = _tmp.Settings();
        var outbox = new SqliteOutbox(settings);
        var writer = Sys.ActorOf(OutboxWriter.Props(outbox, settings), "writer");
        const int writers = 50, writesEach = 20;
        var probes = Enumerable.Range(0, writers).Select(_ => CreateTestProbe()).ToArray();
        Parallel.For(0, writers, w =>
        {
            for (var i = 0; i < writesEach; i++)
                writer.Tell(new OutboxWrite([Rec.Telemetry($"dev-{w}", i * 2), Rec.Telemetry($"dev-{w}", i * 2 + 1)], w * 1000L + i), probes[w].Ref);
        });

        foreach (var (probe, w) in probes.Select((p, w) => (p, w)))
        {
            var tokens = new HashSet<long>();
            for (var i = 0; i < writesEach; i++)
            {
                var written = probe.ExpectMsg<OutboxWritten>(Wait);
                Assert.Equal(2, written.Appended);
                Assert.Equal(0, written.Refused);
                tokens.Add(written.Token);
            }
            Assert.Equal(Enumerable.Range(0, writesEach).Select(i => w * 1000L + i).ToHashSet(), tokens);
        }

        writer.Tell(OutboxWriter.GetWriterStats.Instance);
        var ws = ExpectMsg<OutboxWriter.WriterStats>(Wait);
        _output.WriteLine($"1000 writes in {ws.Transactions} transactions");
        Assert.Equal(2 * writers * writesEach, ws.Appended);
        Assert.True(ws.Transactions < 200, $"{ws.Transactions} transactions for 1000 writes");
        Assert.Equal(outbox.Transactions, ws.Transactions);

        writer.Tell(OutboxWriter.GetStats.Instance);
        Assert.Equal(2 * writers * writesEach, ExpectMsg<OutboxStats>(Wait).Backlog);

        // Each device's records are stored in its write order.
        writer.Tell(new OutboxWriter.Peek(10_000, new HashSet<long>()));
        var entries = ExpectMsg<OutboxWriter.Peeked>(Wait).Entries;
        foreach (var stream in entries.GroupBy(e => e.Record.DeviceId))
            Assert.Equal(Enumerable.Range(0, 2 * writesEach).Select(i => (long)i), stream.Select(e => e.Record.Sequence));
    }

    [Fact]
    public void OutboxWriter_should_peek_remove_expire_and_attribute_refusals_to_the_last_writes()
    {
        var one = SqliteOutbox.SizeOf(Rec.Telemetry("d", 1), RecordCodec.HeaderBytes + 4 + 16 + 4 + 4 + 1);
        // A long delay and a batch of 5 records: the three writes below go into one transaction.
        var settings = _tmp.Settings(maxBytes: one * 4, policy: OutboxFullPolicy.RejectNew) with
        {
            WriterMaxBatch = 5, WriterMaxDelay = TimeSpan.FromSeconds(30), TelemetryTtl = TimeSpan.FromSeconds(1),
        };
        var now = 0L;
        var writer = Sys.ActorOf(OutboxWriter.Props(new SqliteOutbox(settings), settings, () => Interlocked.Read(ref now)));
        writer.Tell(new OutboxWrite([Rec.Telemetry("d", 1), Rec.Telemetry("d", 2)], 1));
        writer.Tell(new OutboxWrite([Rec.Telemetry("d", 3), Rec.Telemetry("d", 4)], 2));
        writer.Tell(new OutboxWrite([Rec.Telemetry("d", 5)], 3));
        ExpectMsg(new OutboxWritten(1, 2, 0), Wait);
        ExpectMsg(new OutboxWritten(2, 2, 0), Wait);
        ExpectMsg(new OutboxWritten(3, 0, 1), Wait);

        writer.Tell(new OutboxWriter.Peek(2, new HashSet<long>()));
        var peeked = ExpectMsg<OutboxWriter.Peeked>(Wait).Entries;
        Assert.Equal([1L, 2], peeked.Select(e => e.Record.Sequence));
        writer.Tell(new OutboxWriter.Remove(peeked.Select(e => e.Id).Append(999_999).ToArray()));
        ExpectMsg(new OutboxWriter.Removed(2), Wait);

        Interlocked.Exchange(ref now, 1_000);
        writer.Tell(OutboxWriter.Expire.Instance);
        ExpectMsg(new OutboxWriter.Expired(2), Wait);
        writer.Tell(OutboxWriter.GetStats.Instance);
        Assert.Equal(new OutboxStats(0, 0, 0, 2, 2, 0, 1) { BacklogRecords = 0 }, ExpectMsg<OutboxStats>(Wait));
    }

    [Fact]
    public void OutboxWriter_should_keep_writing_to_an_outbox_it_was_given_after_a_restart()
    {
        var settings = _tmp.Settings();
        using var outbox = new SqliteOutbox(settings); // created here, so disposed here
        var writer = ChildActorOf(OutboxWriter.Props(outbox, settings), new OneForOneStrategy(_ => Directive.Restart));
        writer.Tell(new OutboxWrite([Rec.Telemetry("d", 1)], 1));
        Assert.Equal(new OutboxWritten(1, 1, 0), ExpectMsg<OutboxWritten>(Wait));

        writer.Tell(Kill.Instance); // the supervisor restarts it
        writer.Tell(new OutboxWrite([Rec.Telemetry("d", 2)], 2));

        Assert.Equal(new OutboxWritten(2, 1, 0), ExpectMsg<OutboxWritten>(Wait));
        writer.Tell(OutboxWriter.GetStats.Instance);
        Assert.Equal(2, ExpectMsg<OutboxStats>(Wait).Backlog);
    }

    [Fact]
    public void OutboxWriter_should_commit_at_once_when_idle_and_group_the_writes_that_arrive_during_a_commit()
    {
        var settings = _tmp.Settings() with { WriterMaxDelay = TimeSpan.Zero };
        using var gate = new ManualResetEventSlim(false);
        var outbox = new GatedOutbox(new SqliteOutbox(settings), gate);
        var writer = Sys.ActorOf(OutboxWriter.Props(outbox, settings));
        writer.Tell(new OutboxWrite([Rec.Telemetry("a", 1)], 1));
        // the first write's transaction started without waiting for more writes (no timer, no second write)
        Assert.True(outbox.Started.Wait(Wait), "the first write did not start a transaction on its own");
        writer.Tell(new OutboxWrite([Rec.Telemetry("b", 1)], 2));
        writer.Tell(new OutboxWrite([Rec.Telemetry("c", 1)], 3));
        writer.Tell(OutboxWriter.GetWriterStats.Instance);
        Assert.Equal(2, ExpectMsg<OutboxWriter.WriterStats>(Wait).Pending); // both wait for the commit in flight
        gate.Set();
        Assert.Equal([1L, 2L, 3L], new[] { ExpectMsg<OutboxWritten>(Wait), ExpectMsg<OutboxWritten>(Wait), ExpectMsg<OutboxWritten>(Wait) }.Select(w => w.Token).Order());
        writer.Tell(OutboxWriter.GetWriterStats.Instance);
        var ws = ExpectMsg<OutboxWriter.WriterStats>(Wait);
        Assert.Equal(2, ws.Transactions); // the first alone, then the two that arrived meanwhile together
        Assert.Equal(3, ws.Appended);
    }

    [Fact]
    public void OutboxWriter_should_answer_WriteFailed_and_keep_running_when_the_outbox_fails()
    {
        var settings = _tmp.Settings();
        var writer = Sys.ActorOf(OutboxWriter.Props(new FailingOutbox(), settings));
        writer.Tell(new OutboxWrite([Rec.Telemetry("d", 1)], 7));
        Assert.Equal(7, ExpectMsg<OutboxWriteFailed>(Wait).Token);
        writer.Tell(OutboxWriter.GetStats.Instance);
        ExpectMsg<OutboxStats>(Wait);
    }

    [Fact]
    public async Task OutboxWriter_throughput_is_measured()
    {
        var settings = _tmp.Settings();
        var writer = Sys.ActorOf(OutboxWriter.Props(new SqliteOutbox(settings), settings), "writer");
        const int writers = 20, batches = 50, perBatch = 100;
        var probes = Enumerable.Range(0, writers).Select(_ => CreateTestProbe()).ToArray();
        var data = Enumerable.Range(0, writers).Select(w => Enumerable.Range(0, batches)
            .Select(b => (IReadOnlyList<SyncRecord>)Enumerable.Range(0, perBatch).Select(i => Rec.Telemetry($"dev-{w}", b * perBatch + i)).ToArray())
            .ToArray()).ToArray();

        var sw = Stopwatch.StartNew();
        // Each writer keeps 2 batches outstanding (a device's ingest pipeline waits for its Written before acking).
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var sent = 0;
            for (; sent < Math.Min(2, batches); sent++) writer.Tell(new OutboxWrite(data[w][sent], sent), probes[w].Ref);
            for (var got = 0; got < batches; got++)
            {
                await probes[w].ExpectMsgAsync<OutboxWritten>(Wait);
                if (sent < batches) writer.Tell(new OutboxWrite(data[w][sent], sent++), probes[w].Ref);
            }
        })).ToArray();
        await Task.WhenAll(tasks);
        sw.Stop();
        var total = writers * batches * perBatch;
        writer.Tell(OutboxWriter.GetWriterStats.Instance);
        var ws = ExpectMsg<OutboxWriter.WriterStats>(Wait);
        Assert.Equal(total, ws.Appended);
        _output.WriteLine($"OutboxWriter: {total} records in {sw.Elapsed.TotalMilliseconds:F0} ms = {total / sw.Elapsed.TotalSeconds:F0} records/s, {ws.Transactions} transactions");
        Console.WriteLine($"OUTBOX-THROUGHPUT {total / sw.Elapsed.TotalSeconds:F0} records/s ({ws.Transactions} transactions)");
    }

    /// <summary>An outbox whose first append waits at a gate (a commit in flight).</summary>
    private sealed class GatedOutbox(IOutbox inner, ManualResetEventSlim gate) : IOutbox
    {
        public ManualResetEventSlim Started { get; } = new(false);

        public AppendResult Append(IReadOnlyList<SyncRecord> records, long nowMs)
        {
            Started.Set();
            gate.Wait();
            return inner.Append(records, nowMs);
        }

        public IReadOnlyList<OutboxEntry> Peek(int max, IReadOnlySet<long> inFlight) => inner.Peek(max, inFlight);
        public void Remove(IReadOnlyCollection<long> ids) => inner.Remove(ids);
        public int ExpireTtl(long nowMs) => inner.ExpireTtl(nowMs);
        public OutboxStats Stats() => inner.Stats();

        public void Dispose()
        {
            inner.Dispose();
            Started.Dispose();
        }
    }

    private sealed class FailingOutbox : IOutbox
    {
        public AppendResult Append(IReadOnlyList<SyncRecord> records, long nowMs) => throw new IOException("disk I/O error");
        public IReadOnlyList<OutboxEntry> Peek(int max, IReadOnlySet<long> inFlight) => [];
        public void Remove(IReadOnlyCollection<long> ids) { }
        public int ExpireTtl(long nowMs) => 0;
        public OutboxStats Stats() => new(0, 0, 0, 0, 0, 0, 0);
        public void Dispose() { }
    }
}
