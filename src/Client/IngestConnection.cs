using System.Diagnostics;
using Akka.Actor;
using EdgeActors.Messages;
using EdgeActors.Resilience;

namespace EdgeActors.Client;

/// <summary>
/// The client side of the ingest stream: one actor in the client's own ActorSystem that resolves every contact's ingest
/// endpoint (<c>/user/ingest</c>, straight over Akka.Remote, no receptionist hop), groups the app's telemetry batches
/// and frames per endpoint into <see cref="IngestRequests"/> (a group closes when the actor has taken every request
/// already queued in its mailbox, or at <see cref="MaxItems"/>), and completes each request from the
/// <see cref="IngestReplies"/>. A device's requests go to the node its entity answered from last (learned from the acks:
/// no second hop between nodes), or before that to one endpoint chosen by hash; either way to the same endpoint while
/// it is up, so its requests keep their order.
/// A request not answered within the request timeout, or whose endpoint was lost, is resent after a jittered,
/// doubling backoff to the next live endpoint until the retry deadline, then fails; ingestion is idempotent per
/// sequence, so a resend never doubles data. How many requests may be in flight is bounded by <see cref="EdgeClient"/>.
/// </summary>
internal sealed class IngestConnection : ReceiveActor, IWithTimers
{
    public const int MaxItems = 512;
    private const int MaxGroupBytes = 1 << 20;

    /// <summary>A request from the app (completed by this actor).</summary>
    public sealed record Submit(Outstanding Request);

    /// <summary>Gateway nodes (host:port) the client learned from the cluster: their ingest endpoints are used too.</summary>
    public sealed record AddContacts(IReadOnlyList<string> HostPorts);

    /// <summary>The app gave up waiting (cancellation): forget the request.</summary>
    public sealed record Forget(long Id);

    public sealed class Outstanding(long id, IDeviceCommand command, TaskCompletionSource<Reply<IEdgeMessage>> completion)
    {
        public long Id { get; } = id;
        public IDeviceCommand Command { get; } = command;
        public TaskCompletionSource<Reply<IEdgeMessage>> Completion { get; } = completion;
        public int Attempts { get; set; }
        public long Deadline { get; set; }
        /// <summary>Stopwatch ticks when the current attempt was sent (0: not sent) or when it may be resent.</summary>
        public long SentAt { get; set; }
        public long ResendAt { get; set; }
        public int Endpoint { get; set; } = -1;
        public bool Waiting { get; set; }
        public int Bytes => Command switch
        {
            TelemetryBatch t => 32 + t.DeviceId.Value.Length + (t.Sequences?.Length ?? 0) * 6 + (t.Values?.Length ?? 0) * 4,
            CameraFrame f => 48 + f.DeviceId.Value.Length + (f.Pixels?.Length ?? 0),
            _ => 64,
        };
    }

    private sealed record Flush
    {
        public static readonly Flush Instance = new();
    }

    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    private sealed class Endpoint(string contact, string path)
    {
        public string Contact { get; } = contact;
        public string Path { get; } = path;
        public IActorRef? Ref { get; set; }
        public List<Outstanding> Buffer { get; } = [];
        public int BufferBytes { get; set; }
        public long? LastIdentify { get; set; }
    }

    private readonly List<Endpoint> _endpoints;
    private readonly Func<string, string> _pathOf;
    private readonly Dictionary<long, Outstanding> _pending = new();
    /// <summary>Where each device's entity answered from last (an endpoint index): its next requests go straight there.</summary>
    private readonly Dictionary<string, int> _home = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _endpointByNode = new(StringComparer.Ordinal);
    private const int MaxHomes = 1_000_000;
    private readonly List<Outstanding> _waiting = []; // no live endpoint, or waiting for its resend time
    private readonly string _token;
    private readonly long _timeoutTicks;
    private readonly long _deadlineTicks;
    private readonly Random _jitter = new();
    /// <summary>Resend delay by attempts: doubling from 100 ms up to the client's max backoff, ±50 % (resends of many requests spread out).</summary>
    private readonly Backoff _resendBackoff;
    private bool _flushQueued;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="pathOf">host:port → the ingest endpoint's actor path on that node.</param>
    public IngestConnection(IReadOnlyList<string> contacts, Func<string, string> pathOf, string token, TimeSpan requestTimeout, TimeSpan retryDeadline, TimeSpan maxBackoff)
    {
        _pathOf = pathOf;
        _endpoints = contacts.Distinct(StringComparer.OrdinalIgnoreCase).Select(c => new Endpoint(c, pathOf(c))).ToList();
        _token = token;
        _timeoutTicks = (long)(requestTimeout.TotalSeconds * Stopwatch.Frequency);
        _deadlineTicks = (long)(retryDeadline.TotalSeconds * Stopwatch.Frequency);
        _resendBackoff = EdgeClient.RetryBackoff(maxBackoff, jitter: 0.5, _jitter.NextDouble);

        Receive<Submit>(s =>
        {
            var o = s.Request;
            o.Deadline = Stopwatch.GetTimestamp() + _deadlineTicks;
            _pending[o.Id] = o;
            Dispatch(o);
        });
        Receive<Forget>(f => _pending.Remove(f.Id));
        Receive<AddContacts>(a =>
        {
            foreach (var c in a.HostPorts)
                if (!_endpoints.Any(e => string.Equals(e.Contact, c, StringComparison.OrdinalIgnoreCase)))
                    _endpoints.Add(new Endpoint(c, _pathOf(c)));
            Identify(Stopwatch.GetTimestamp());
        });
        Receive<Flush>(_ =>
        {
            _flushQueued = false;
            foreach (var e in _endpoints) Send(e);
        });
        Receive<IngestReplies>(OnReplies);
        Receive<ActorIdentity>(OnIdentity);
        Receive<Terminated>(t =>
        {
            foreach (var e in _endpoints)
            {
                if (!t.ActorRef.Equals(e.Ref)) continue;
                e.Ref = null;
                e.LastIdentify = null;
            }
            // everything sent to a lost endpoint goes to another one (after a short jitter, so many clients do not resend at once)
            var now = Stopwatch.GetTimestamp();
            foreach (var o in _pending.Values)
                if (o.SentAt > 0 && o.Endpoint >= 0 && _endpoints[o.Endpoint].Ref is null)
                    Retry(o, now, TimeSpan.FromMilliseconds(_jitter.Next(0, 200)));
        });
        Receive<Tick>(_ => OnTick());
    }

    public static Props Props(IReadOnlyList<string> contacts, Func<string, string> pathOf, string token, TimeSpan requestTimeout, TimeSpan retryDeadline, TimeSpan maxBackoff) =>
        Akka.Actor.Props.Create(() => new IngestConnection(contacts, pathOf, token, requestTimeout, retryDeadline, maxBackoff));

    protected override void PreStart()
    {
        Identify(Stopwatch.GetTimestamp());
        Timers.StartPeriodicTimer(nameof(Tick), Tick.Instance, TimeSpan.FromMilliseconds(100));
    }

    private void Identify(long now)
    {
        for (var i = 0; i < _endpoints.Count; i++)
        {
            var e = _endpoints[i];
            if (e.Ref is not null || (e.LastIdentify is { } last && now - last < Stopwatch.Frequency)) continue;
            e.LastIdentify = now;
            Context.ActorSelection(e.Path).Tell(new Identify(i));
        }
    }

    private void OnIdentity(ActorIdentity id)
    {
        if (id.MessageId is not int i || i < 0 || i >= _endpoints.Count || id.Subject is null) return;
        var e = _endpoints[i];
        if (e.Ref is not null) return;
        e.Ref = id.Subject;
        Context.Watch(id.Subject);
        // requests that had no live endpoint go now
        if (TakeDue(Stopwatch.GetTimestamp()) is { } due)
            foreach (var o in due) Dispatch(o);
    }

    /// <summary>
    /// The endpoint for a device: the node its entity answered from last (no hop between nodes), else the same one for
    /// every request of the device while it is up (by hash); on a resend, the next live one.
    /// </summary>
    private int Choose(IDeviceCommand command, int attempt)
    {
        if (attempt == 0 && _home.TryGetValue(command.DeviceId.Value ?? "", out var home) && _endpoints[home].Ref is not null) return home;
        var live = 0;
        foreach (var e in _endpoints) if (e.Ref is not null) live++;
        if (live == 0) return -1;
        var hash = (uint)StringComparer.Ordinal.GetHashCode(command.DeviceId.Value ?? "");
        var k = (int)((hash + (uint)attempt) % (uint)live);
        for (var i = 0; i < _endpoints.Count; i++)
            if (_endpoints[i].Ref is not null && k-- == 0) return i;
        return -1;
    }

    private void Dispatch(Outstanding o)
    {
        if (!_pending.ContainsKey(o.Id)) return; // answered or forgotten meanwhile
        var i = Choose(o.Command, o.Attempts);
        if (i < 0)
        {
            o.SentAt = 0;
            o.Endpoint = -1;
            Wait(o);
            return;
        }
        o.Endpoint = i;
        o.Attempts++;
        o.SentAt = Stopwatch.GetTimestamp();
        var e = _endpoints[i];
        e.Buffer.Add(o);
        e.BufferBytes += o.Bytes;
        if (e.Buffer.Count >= MaxItems || e.BufferBytes >= MaxGroupBytes) Send(e);
        else if (!_flushQueued)
        {
            // behind every request already in the mailbox: under load they share one group, alone one goes at once
            _flushQueued = true;
            Self.Tell(Flush.Instance);
        }
    }

    private void Send(Endpoint e)
    {
        if (e.Buffer.Count == 0) return;
        var items = e.Buffer.Where(o => _pending.ContainsKey(o.Id)).ToArray();
        e.Buffer.Clear();
        e.BufferBytes = 0;
        if (items.Length == 0) return;
        if (e.Ref is null)
        {
            var now = Stopwatch.GetTimestamp();
            foreach (var o in items) Retry(o, now, TimeSpan.Zero);
            return;
        }
        e.Ref.Tell(new IngestRequests(_token, items.Select(o => o.Id).ToArray(), items.Select(o => o.Command).ToArray()));
    }

    private void OnReplies(IngestReplies replies)
    {
        for (var i = 0; i < replies.Ids.Length; i++)
        {
            if (!_pending.TryGetValue(replies.Ids[i], out var o)) continue; // a late answer to a request already answered
            if (replies.Replies[i] is IngestAck { Node.Length: > 0 } ack)
            {
                Learn(ack.DeviceId.Value, ack.Node);
                // a resend refused as Overloaded says nothing about the attempt before it (it may have been kept after its
                // gateway gave up waiting, or its gateway was lost): keep resending, with backoff, until an answer says what
                // became of every reading
                // likewise a resend that met its own earlier attempt still in progress (e.g. a frame being classified) is
                // answered without an outcome for those readings: ask again later, when the earlier attempt has finished
                if (o.Attempts > 1 && (OverloadAnswer.RefusedWhole(ack) || ack.Accepted + ack.Rejected.Length < Readings(o.Command)))
                {
                    if (o.SentAt > 0) Retry(o, Stopwatch.GetTimestamp(), _resendBackoff.Delay(o.Attempts));
                    continue;
                }
            }
            _pending.Remove(o.Id);
            o.Completion.TrySetResult(new Reply<IEdgeMessage>(replies.Replies[i], o.Attempts));
        }
        if (replies.Resend is not { Length: > 0 }) return;
        var now = Stopwatch.GetTimestamp();
        foreach (var id in replies.Resend)
            if (_pending.TryGetValue(id, out var o) && o.SentAt > 0)
                Retry(o, now, TimeSpan.FromMilliseconds(_jitter.Next(0, 200)));
    }

    private static int Readings(IDeviceCommand command) => command switch
    {
        TelemetryBatch t => t.Sequences?.Length ?? 0,
        CameraFrame => 1,
        _ => 0,
    };

    /// <summary>Remembers which endpoint sits on the node that hosts the device's entity (when that node is a contact).</summary>
    private void Learn(string device, string node)
    {
        if (!_endpointByNode.TryGetValue(node, out var index))
        {
            index = -1;
            try
            {
                var a = Address.Parse(node);
                for (var i = 0; i < _endpoints.Count; i++)
                    if (string.Equals(_endpoints[i].Contact, $"{a.Host}:{a.Port}", StringComparison.OrdinalIgnoreCase)) index = i;
            }
            catch (Exception ex) when (ex is UriFormatException or FormatException or ArgumentException)
            {
            }
            if (_endpointByNode.Count < 1024) _endpointByNode[node] = index;
        }
        if (index < 0) return;
        if (_home.Count >= MaxHomes) _home.Clear();
        _home[device] = index;
    }

    private void OnTick()
    {
        var now = Stopwatch.GetTimestamp();
        Identify(now);
        List<Outstanding>? expired = null;
        foreach (var o in _pending.Values)
        {
            if (now >= o.Deadline) (expired ??= []).Add(o);
            else if (o.SentAt > 0 && now - o.SentAt >= _timeoutTicks) Retry(o, now, _resendBackoff.Delay(o.Attempts));
        }
        if (expired is not null)
            foreach (var o in expired)
            {
                _pending.Remove(o.Id);
                o.Completion.TrySetException(new EdgeClientException(
                    $"no reply to {o.Command.GetType().Name} for device '{o.Command.DeviceId}' after {o.Attempts} attempt(s) within {_deadlineTicks / Stopwatch.Frequency}s"));
            }
        if (TakeDue(now) is { } due)
            foreach (var o in due) Dispatch(o);
    }


    private void Retry(Outstanding o, long now, TimeSpan after)
    {
        o.SentAt = 0;
        o.ResendAt = now + (long)(after.TotalSeconds * Stopwatch.Frequency);
        Wait(o);
    }

    private void Wait(Outstanding o)
    {
        if (o.Waiting) return;
        o.Waiting = true;
        _waiting.Add(o);
    }

    /// <summary>Takes the waiting requests whose resend time has come (null when none).</summary>
    private List<Outstanding>? TakeDue(long now)
    {
        if (_waiting.Count == 0) return null;
        List<Outstanding>? due = null;
        _waiting.RemoveAll(o =>
        {
            if (o.ResendAt > now && _pending.ContainsKey(o.Id)) return false;
            o.Waiting = false;
            if (_pending.ContainsKey(o.Id)) (due ??= []).Add(o);
            return true;
        });
        return due;
    }
}
