using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Security;
using EdgeActors.Client.Security;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Gateway;

/// <summary>
/// The client library's fast path into the cluster, one per gateway node at <c>/user/ingest</c>: takes
/// <see cref="IngestRequests"/> (many devices' telemetry batches and frames in one remote message), checks the token once
/// per group and each command against its scopes, device prefix and id rules, forwards the commands to the device region
/// through a short-lived <see cref="IngestExchange"/> per group, and answers with <see cref="IngestReplies"/>.
/// <para>
/// Admission control: the readings this node has forwarded and not yet seen answered are bounded by the rate at which
/// answers came back recently times <see cref="IngestEndpointSettings.TargetLatency"/> (Little's law: work waiting =
/// throughput × waiting time), kept within [<see cref="IngestEndpointSettings.MinOutstandingReadings"/>,
/// <see cref="IngestEndpointSettings.MaxOutstandingReadings"/>]. A command that would exceed the bound is answered at once
/// with every sequence rejected as <see cref="RejectReason.Overloaded"/>, so overload costs a reply, not a timeout, and the
/// time an admitted request waits inside the cluster stays near the target whatever the offered load. While the node is
/// lightly loaded answers come back much faster than the target, so the bound (starting at the minimum) grows quickly
/// with the load.
/// </para>
/// </summary>
public sealed class IngestEndpoint : ReceiveActor, IWithTimers
{

    /// <summary>An exchange finished: its readings are no longer outstanding.</summary>
    internal sealed record ExchangeDone(int Readings);

    private sealed record Measure
    {
        public static readonly Measure Instance = new();
    }

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _devices;
    private readonly int _maxIdLength;
    private readonly IngestEndpointSettings _settings;
    private readonly ClientTokenCache? _tokens;
    private readonly string _node;
    private long _outstanding;
    private long _overloaded;
    private long _refused;
    private long _limit;
    private long _answered;
    private bool _busy;
    private double _rate;
    private long _lastMeasure = System.Diagnostics.Stopwatch.GetTimestamp();

    public ITimerScheduler Timers { get; set; } = null!;

    public IngestEndpoint(IActorRef devices, int maxDeviceIdLength, IngestEndpointSettings settings, ClientAuth? auth)
    {
        _devices = devices;
        _maxIdLength = maxDeviceIdLength;
        _settings = settings.Validate();
        _tokens = auth is null ? null : new ClientTokenCache(auth);
        _node = ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString();

        // a node starts with the smallest window and widens it as it shows how fast it answers
        _limit = _settings.MinOutstandingReadings;
        Receive<IngestRequests>(OnRequests);
        Receive<ExchangeDone>(d =>
        {
            _outstanding -= d.Readings;
            _answered += d.Readings;
        });
        Receive<Measure>(_ => OnMeasure());
        // an edge was removed: what its entities held is lost, and their shards now move; every open exchange names its
        // unanswered requests for the client to resend at once (idempotent), rather than waiting for its timeout
        Receive<Akka.Cluster.ClusterEvent.MemberRemoved>(removed =>
        {
            // only edges host device entities: a datacenter or seed leaving loses none of them
            if (!removed.Member.HasRole(Roles.Edge)) return;
            foreach (var child in Context.GetChildren()) child.Tell(IngestExchange.GiveUp.Instance);
        });
        Receive<GetIngestEndpointStats>(_ => Sender.Tell(new IngestEndpointStats(_outstanding, _overloaded, _limit)));
    }

    protected override void PreStart()
    {
        Timers.StartPeriodicTimer(nameof(Measure), Measure.Instance, TimeSpan.FromMilliseconds(200));
        if (Context.System.Settings.ProviderClass.Contains("Cluster", StringComparison.Ordinal))
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, Akka.Cluster.ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
                typeof(Akka.Cluster.ClusterEvent.MemberRemoved));
    }

    protected override void PostStop()
    {
        if (Context.System.Settings.ProviderClass.Contains("Cluster", StringComparison.Ordinal))
            Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        base.PostStop();
    }

    /// <summary>The answer rate (readings/s, smoothed) and from it the bound on readings outstanding.</summary>
    private void OnMeasure()
    {
        var now = System.Diagnostics.Stopwatch.GetTimestamp();
        var seconds = (now - _lastMeasure) / (double)System.Diagnostics.Stopwatch.Frequency;
        _lastMeasure = now;
        if (seconds <= 0) return;
        var rate = _answered / seconds;
        _answered = 0;
        // only a node with work waiting measures its capacity; an idle one keeps the bound it has
        var busy = _busy || _outstanding > 0;
        _busy = _outstanding > 0;
        if (!busy) return;
        _rate = _rate == 0 ? rate : 0.7 * _rate + 0.3 * rate;
        _limit = Math.Clamp((long)(_rate * _settings.TargetLatency.TotalSeconds), _settings.MinOutstandingReadings, _settings.MaxOutstandingReadings);
    }

    public static Props Props(IActorRef devices, int maxDeviceIdLength, IngestEndpointSettings settings, ClientAuth? auth) =>
        Akka.Actor.Props.Create(() => new IngestEndpoint(devices, maxDeviceIdLength, settings, auth));

    private static int Weight(IDeviceCommand c) => c is TelemetryBatch t ? Math.Max(1, t.Sequences?.Length ?? 1) : 1;

    private void OnRequests(IngestRequests group)
    {
        var n = group.Ids.Length;
        if (n == 0 || n != group.Commands.Length)
        {
            if (n > 0) Sender.Tell(AllRefused(group, $"IngestRequests with {n} ids for {group.Commands.Length} commands"));
            return;
        }
        ClientClaims? claims = null;
        if (_tokens is not null)
        {
            string? problem;
            (claims, problem) = string.IsNullOrEmpty(group.Token) ? (null, GatewayActor.TokenRequired) : _tokens.Check(group.Token);
            if (problem is not null)
            {
                Refused(problem);
                Sender.Tell(AllRefused(group, problem));
                return;
            }
        }

        List<long>? nowIds = null;
        List<IEdgeMessage>? nowReplies = null;
        // each exchange holds at most one command per device, so a device's ack names its request
        var exchanges = new List<(List<long> Ids, List<IDeviceCommand> Commands, HashSet<string> Devices, int Readings)>();
        for (var i = 0; i < n; i++)
        {
            var command = group.Commands[i];
            var problem = Validate(command.DeviceId) ?? (claims is null ? null : ClientTokens.Authorize(claims, command));
            IEdgeMessage? immediate = null;
            if (problem is not null)
            {
                Refused(problem);
                immediate = new RequestRejected(problem);
            }
            else
            {
                var weight = Weight(command);
                if (_outstanding + weight > _limit)
                {
                    _overloaded += weight;
                    immediate = Overloaded(command);
                }
                else
                {
                    _outstanding += weight;
                    var x = exchanges.FindIndex(e => !e.Devices.Contains(command.DeviceId.Value));
                    if (x < 0)
                    {
                        exchanges.Add(([], [], new HashSet<string>(StringComparer.Ordinal), 0));
                        x = exchanges.Count - 1;
                    }
                    var e = exchanges[x];
                    e.Ids.Add(group.Ids[i]);
                    e.Commands.Add(command);
                    e.Devices.Add(command.DeviceId.Value);
                    exchanges[x] = e with { Readings = e.Readings + weight };
                }
            }
            if (immediate is null) continue;
            (nowIds ??= []).Add(group.Ids[i]);
            (nowReplies ??= []).Add(immediate);
        }
        if (nowIds is not null) Sender.Tell(new IngestReplies(nowIds.ToArray(), nowReplies!.ToArray()));
        foreach (var e in exchanges)
            Context.ActorOf(IngestExchange.Props(Sender, e.Ids.ToArray(), e.Commands.ToArray(), e.Readings, _devices, _settings.ExchangeTimeout));
    }

    private IngestAck Overloaded(IDeviceCommand command) =>
        OverloadAnswer.For(command, _node, "the node is over capacity; resend after a pause");

    private static IngestReplies AllRefused(IngestRequests group, string reason)
    {
        var rejected = new RequestRejected(reason);
        return new IngestReplies(group.Ids, group.Ids.Select(_ => (IEdgeMessage)rejected).ToArray());
    }

    private void Refused(string reason)
    {
        // logged at most once per 100 refusals, so a hostile client cannot flood the log
        if (_refused++ % 100 == 0) _log.Warning("Ingest: refused a request from {0}: {1} ({2} refused so far)", Sender, reason, _refused);
    }

    private string? Validate(DeviceId id) => GatewayActor.ValidateDeviceId(id, _maxIdLength);
}

/// <summary>Replies <see cref="IngestEndpointStats"/> (tests, status).</summary>
public sealed record GetIngestEndpointStats
{
    public static readonly GetIngestEndpointStats Instance = new();
}

/// <summary>Readings forwarded and not yet answered, readings answered Overloaded since start, and the bound on outstanding readings now.</summary>
public sealed record IngestEndpointStats(long Outstanding, long Overloaded, long Limit);

/// <summary>
/// One group's commands in flight: forwards each to the device region with itself as the sender, collects the entities'
/// acks (one command per device, so the ack's device names its request), and sends them to the client in one
/// <see cref="IngestReplies"/> when all have answered. After the timeout (longer than a device entity's own 10 s backstop,
/// so a live entity always answers first), or at once when a cluster member is removed, it sends what it has, names the
/// rest for the client to resend (idempotent per sequence) and stops.
/// </summary>
public sealed class IngestExchange : ReceiveActor, IWithTimers
{
    private sealed record TimedOut;

    /// <summary>Stop waiting now (a node was removed): answer what was answered, name the rest for resending.</summary>
    internal sealed record GiveUp
    {
        public static readonly GiveUp Instance = new();
    }

    private readonly IActorRef _replyTo;
    private readonly Dictionary<string, long> _idByDevice = new(StringComparer.Ordinal);
    private readonly List<long> _answeredIds = [];
    private readonly List<IEdgeMessage> _answers = [];
    private readonly int _readings;

    public ITimerScheduler Timers { get; set; } = null!;

    public IngestExchange(IActorRef replyTo, long[] ids, IDeviceCommand[] commands, int readings, IActorRef devices, TimeSpan timeout)
    {
        _replyTo = replyTo;
        _readings = readings;
        for (var i = 0; i < ids.Length; i++)
        {
            _idByDevice[commands[i].DeviceId.Value] = ids[i];
            devices.Tell(commands[i], Self);
        }
        Timers.StartSingleTimer(nameof(TimedOut), new TimedOut(), timeout);
        Receive<IngestAck>(ack =>
        {
            if (!_idByDevice.Remove(ack.DeviceId.Value, out var id)) return;
            _answeredIds.Add(id);
            _answers.Add(ack);
            if (_idByDevice.Count == 0) Finish();
        });
        Receive<TimedOut>(_ => Finish());
        Receive<GiveUp>(_ => Finish());
    }

    public static Props Props(IActorRef replyTo, long[] ids, IDeviceCommand[] commands, int readings, IActorRef devices, TimeSpan timeout) =>
        Akka.Actor.Props.Create(() => new IngestExchange(replyTo, ids, commands, readings, devices, timeout));

    private void Finish()
    {
        // the endpoint frees the readings before the client hears (a client answered can send more at once)
        Context.Parent.Tell(new IngestEndpoint.ExchangeDone(_readings));
        // what was not answered in time is named, so the client resends it now instead of after its own timeout
        _replyTo.Tell(new IngestReplies(_answeredIds.ToArray(), _answers.ToArray(), _idByDevice.Values.Order().ToArray()));
        Context.Stop(Self);
    }
}

public static class IngestEndpointRegistration
{
    /// <summary>Starts the ingest endpoint at <see cref="WellKnown.IngestPath"/> (needs the device region: call after AddDeviceSharding).</summary>
    public static AkkaConfigurationBuilder AddIngestEndpoint(this AkkaConfigurationBuilder builder, IngestEndpointSettings settings,
        int maxDeviceIdLength = 128, ClientAuth? auth = null) =>
        builder.WithActors((system, registry) =>
        {
            var endpoint = system.ActorOf(IngestEndpoint.Props(registry.Get<DeviceRegion>(), maxDeviceIdLength, settings, auth), WellKnown.IngestName);
            registry.Register<IngestEndpoint>(endpoint);
        });
}
