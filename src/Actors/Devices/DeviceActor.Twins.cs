using Akka.Actor;
using Akka.Event;
using EdgeActors.Actors.Twins;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Devices;

/// <summary>The datacenter's twin store (proxy to the singleton) and the twin limits a device entity works with.</summary>
public sealed record TwinServices(IActorRef Store, TwinSettings Settings);

/// <summary>
/// Twin and commands of the device entity. Loaded lazily: the first twin, command or attach message sends one
/// <see cref="LoadTwin"/> to the twin store; until it answers those messages wait in order (a device that never uses
/// twins pays nothing, the telemetry path is untouched). A change is applied, and answered, only once the store says it
/// is stored (<see cref="TwinStored"/>); one save is in flight at a time, later requests wait behind it in order.
/// <para>
/// Subscribers (<see cref="AttachDevice"/>): device connections (an MQTT session) and followers (an SSE stream) are
/// watched; they get the twin on attach and at every change; device connections get pending commands (then marked
/// delivered, stored first) and new ones at once; followers get command changes, the device's acks and alerts. The
/// state lives in the store, so when the entity passivates or moves to another edge (hand-off, a killed edge) the new
/// incarnation loads it again; subscribers are not carried over: the entity tells each one <see cref="DetachDevice"/>
/// when it stops, and the front doors (MQTT broker, HTTP host) re-attach, which loads the entity where it lives now.
/// </para>
/// </summary>
public sealed partial class DeviceActor
{
    private sealed record TwinLoadTimedOut(long Attempt);

    private sealed record TwinSaveTimedOut(long Token);

    private sealed record CommandExpired(string CommandId);

    private enum TwinLoad
    {
        NotLoaded,
        Loading,
        Loaded,
    }

    /// <summary>A save in flight: what to do once it is stored, or when it is not.</summary>
    private sealed record TwinSave(long Token, Action Stored, Action<string> Failed);

    private const string TwinTimer = "twin-store";

    private TwinLoad _twinLoad;
    private long _twinLoadAttempt;
    private DeviceTwin? _twin;
    private readonly List<CommandStatus> _commands = [];
    private readonly Queue<(object Message, IActorRef Sender)> _twinQueue = new();
    private TwinSave? _saving;
    private long _nextSaveToken;
    private long _assignedCommands;
    private Dictionary<IActorRef, (string Path, bool IsDevice)>? _subscribers;
    private int _followers;

    private bool TwinBusy => _saving is not null || _twinQueue.Count > 0 && _twinLoad != TwinLoad.NotLoaded;

    protected override void PostStop()
    {
        Observability.IngestMetrics.EntityStopped();
        Observability.AdapterMetrics.HealthChanged(_sensor?.Health, null);
        DetachAll();
        base.PostStop();
    }

    private void TwinReceives()
    {
        Receive<SetDesired>(m => Twin(m));
        Receive<ReportTwin>(m => Twin(m));
        Receive<GetTwin>(m => Twin(m));
        Receive<SendCommand>(m => Twin(m));
        Receive<AcknowledgeCommand>(m => Twin(m));
        Receive<GetCommands>(m => Twin(m));
        Receive<AttachDevice>(m => Twin(m));
        Receive<DetachDevice>(m => Twin(m));
        Receive<CommandExpired>(m => Twin(m));
        Receive<TwinStored>(OnTwinStored);
        Receive<TwinLoadTimedOut>(t =>
        {
            if (_twinLoad != TwinLoad.Loading || t.Attempt != _twinLoadAttempt) return;
            TwinLoadFailed($"the twin store did not answer within {_services.Twins!.Settings.StoreTimeout} (no datacenter reachable?)");
        });
        Receive<TwinSaveTimedOut>(t =>
        {
            if (_saving is not { } s || s.Token != t.Token) return;
            _saving = null;
            // the store may still write it: a later save (the entity's state without this change) overwrites it
            s.Failed($"the twin store did not answer within {_services.Twins!.Settings.StoreTimeout}; nothing changed, resend later");
            PumpTwin();
        });
        Receive<Terminated>(t =>
        {
            if (_subscribers is null || !_subscribers.Remove(t.ActorRef, out var s)) return;
            if (!s.IsDevice) _followers--;
        });
    }

    private void Twin(object message)
    {
        if (message is IWithDeviceId d && d.DeviceId != _id)
        {
            if (TwinError(message, $"message for device '{d.DeviceId}' delivered to device '{_id}'") is { } wrong) Sender.Tell(wrong);
            return;
        }
        if (_services.Twins is null)
        {
            if (TwinError(message, $"node {_node} keeps no twins (no twin store is registered)") is { } off) Sender.Tell(off);
            return;
        }
        _twinQueue.Enqueue((message, Sender));
        PumpTwin();
    }

    /// <summary>Works through the waiting twin messages until one needs a store round trip (a load or a save).</summary>
    private void PumpTwin()
    {
        while (_saving is null && _twinQueue.Count > 0)
        {
            if (_twinLoad != TwinLoad.Loaded)
            {
                if (_twinLoad == TwinLoad.NotLoaded) StartTwinLoad();
                return;
            }
            var (message, sender) = _twinQueue.Dequeue();
            Handle(message, sender);
        }
        StopIfRequested();
    }

    private void StartTwinLoad()
    {
        _twinLoad = TwinLoad.Loading;
        _twinLoadAttempt++;
        _services.Twins!.Store.Tell(new LoadTwin(_id));
        Timers.StartSingleTimer(TwinTimer, new TwinLoadTimedOut(_twinLoadAttempt), _services.Twins.Settings.StoreTimeout);
    }

    private void TwinLoadFailed(string error)
    {
        Timers.Cancel(TwinTimer);
        _twinLoad = TwinLoad.NotLoaded; // the next request tries again
        _log.Warning("Device {0}: twin not loaded: {1}", _id, error);
        while (_twinQueue.TryDequeue(out var w))
        {
            var reply = TwinError(w.Message, "the device's twin could not be loaded: " + error);
            if (reply is not null) w.Sender.Tell(reply);
        }
        StopIfRequested();
    }

    private void OnTwinStored(TwinStored s)
    {
        if (s.DeviceId != _id) return;
        if (s.Token == 0)
        {
            if (_twinLoad != TwinLoad.Loading) return; // a late answer to a load that timed out
            if (s.Error.Length > 0 || s.Twin is null)
            {
                TwinLoadFailed(s.Error.Length > 0 ? s.Error : "the twin store answered without a twin");
                return;
            }
            Timers.Cancel(TwinTimer);
            _twin = s.Twin;
            _commands.Clear();
            _commands.AddRange(s.Commands);
            _twinLoad = TwinLoad.Loaded;
            var now = NowMs();
            foreach (var c in _commands)
                if (!TwinRules.IsFinished(c.State)) ArmExpiry(c, now);
            PumpTwin();
            return;
        }
        if (_saving is not { } saving || saving.Token != s.Token) return; // timed out before: its requester got an error
        Timers.Cancel(TwinTimer);
        _saving = null;
        if (s.Error.Length > 0) saving.Failed(s.Error);
        else saving.Stored();
        PumpTwin();
    }

    /// <summary>Saves the twin with the changed commands; <paramref name="stored"/> applies the change once stored.</summary>
    private void Save(DeviceTwin twin, CommandStatus[] changed, Action stored, Action<string> failed)
    {
        var token = ++_nextSaveToken;
        _saving = new TwinSave(token, stored, failed);
        _services.Twins!.Store.Tell(new SaveTwin(_id, token, twin, changed));
        Timers.StartSingleTimer(TwinTimer, new TwinSaveTimedOut(token), _services.Twins.Settings.StoreTimeout);
    }

    private void Handle(object message, IActorRef sender)
    {
        var settings = _services.Twins!.Settings;
        var twin = _twin!;
        var now = NowMs();
        switch (message)
        {
            case GetTwin:
                sender.Tell(new TwinResult(_id, twin, ""));
                break;
            case GetCommands:
                sender.Tell(new DeviceCommands(_id, _commands.ToArray()));
                break;
            case SetDesired or ReportTwin:
            {
                var desired = message is SetDesired;
                var update = message is SetDesired sd ? sd.Properties : ((ReportTwin)message).Properties;
                var (next, error) = TwinRules.Apply(twin, update, desired, now, settings);
                if (next is null)
                {
                    sender.Tell(new TwinResult(_id, null, error!));
                    break;
                }
                Save(next, [], () =>
                {
                    _twin = next;
                    sender.Tell(new TwinResult(_id, next, ""));
                    Notify(next, devices: true, followers: true);
                }, e => sender.Tell(new TwinResult(_id, null, "not stored: " + e)));
                break;
            }
            case SendCommand send:
            {
                var id = send.CommandId ?? "";
                if (id.Length > 0 && _commands.Find(c => c.CommandId == id) is { } existing)
                {
                    sender.Tell(existing); // a resend: the same command, where it is now
                    break;
                }
                if (id.Length == 0) id = $"{now:x}-{++_assignedCommands}";
                var (command, error) = TwinRules.NewCommand(send, id, now, settings);
                if (command is null)
                {
                    sender.Tell(Refused(send.DeviceId, id, send.Name, error!));
                    break;
                }
                var devices = DeviceConnections();
                if (devices.Count > 0) command = command with { State = CommandState.Delivered };
                Save(twin, [command], () =>
                {
                    _commands.Add(command);
                    TrimCommands(settings.MaxCommands);
                    ArmExpiry(command, now);
                    sender.Tell(command);
                    foreach (var d in devices) d.Tell(command);
                    NotifyFollowers(command);
                }, e => sender.Tell(Refused(send.DeviceId, id, send.Name, "not stored: " + e)));
                break;
            }
            case AcknowledgeCommand ack:
            {
                var at = _commands.FindIndex(c => c.CommandId == ack.CommandId);
                if (at < 0)
                {
                    sender.Tell(Refused(ack.DeviceId, ack.CommandId ?? "", "", $"device '{_id}' has no command '{ack.CommandId}' (never sent, or dropped from the kept history)"));
                    break;
                }
                var previous = _commands[at];
                var (updated, changed, error) = TwinRules.Acknowledge(previous, ack, now, settings);
                if (error is not null)
                {
                    sender.Tell(updated with { Error = error });
                    break;
                }
                if (!changed)
                {
                    sender.Tell(updated);
                    break;
                }
                Save(twin, [updated], () =>
                {
                    ReplaceCommand(updated);
                    Timers.Cancel(ExpiryKey(updated.CommandId));
                    sender.Tell(updated);
                    NotifyFollowers(updated);
                }, e => sender.Tell(previous with { Error = "not stored: " + e }));
                break;
            }
            case CommandExpired expired:
            {
                var at = _commands.FindIndex(c => c.CommandId == expired.CommandId);
                if (at < 0 || TwinRules.IsFinished(_commands[at].State)) break;
                var updated = _commands[at] with { State = CommandState.Expired, UpdatedAt = now };
                Save(twin, [updated], () =>
                {
                    ReplaceCommand(updated);
                    NotifyFollowers(updated);
                }, e =>
                {
                    _log.Warning("Device {0}: expiry of command {1} not stored ({2}); retried", _id, expired.CommandId, e);
                    Timers.StartSingleTimer(ExpiryKey(expired.CommandId), expired, settings.StoreTimeout);
                });
                break;
            }
            case AttachDevice attach:
                Attach(attach, twin, now);
                break;
            case DetachDevice detach:
            {
                if (_subscribers is null) break;
                foreach (var (subscriber, s) in _subscribers.Where(kv => kv.Value.Path == detach.SubscriberPath).ToList())
                {
                    Context.Unwatch(subscriber);
                    _subscribers.Remove(subscriber);
                    if (!s.IsDevice) _followers--;
                }
                break;
            }
        }
    }

    private void Attach(AttachDevice attach, DeviceTwin twin, long now)
    {
        IActorRef subscriber;
        try
        {
            subscriber = ((ExtendedActorSystem)Context.System).Provider.ResolveActorRef(attach.SubscriberPath);
        }
        catch (Exception ex)
        {
            _log.Warning("Device {0}: cannot attach '{1}': {2}", _id, attach.SubscriberPath, ex.Message);
            return;
        }
        if (subscriber.IsNobody())
        {
            _log.Warning("Device {0}: cannot attach '{1}': not an actor path", _id, attach.SubscriberPath);
            return;
        }
        _subscribers ??= new Dictionary<IActorRef, (string, bool)>();
        if (_subscribers.TryGetValue(subscriber, out var before) && !before.IsDevice) _followers--;
        _subscribers[subscriber] = (attach.SubscriberPath, attach.IsDevice);
        if (!attach.IsDevice) _followers++;
        Context.Watch(subscriber);
        subscriber.Tell(twin);
        if (!attach.IsDevice) return;
        // pending commands go to the device connection now: stored as delivered first, then sent
        var pending = _commands.Where(c => c.State == CommandState.Pending).Select(c => c with { State = CommandState.Delivered, UpdatedAt = now }).ToArray();
        var delivered = _commands.Where(c => c.State == CommandState.Delivered).ToArray(); // sent before, not acknowledged: again
        if (pending.Length == 0)
        {
            foreach (var c in delivered) subscriber.Tell(c);
            return;
        }
        Save(twin, pending, () =>
        {
            foreach (var c in pending) ReplaceCommand(c);
            foreach (var c in delivered.Concat(pending).OrderBy(c => c.CreatedAt)) subscriber.Tell(c);
            foreach (var c in pending) NotifyFollowers(c);
        }, e =>
        {
            // still pending: sent now anyway, marked delivered when the device attaches again or acknowledges it
            _log.Warning("Device {0}: delivery of {1} pending command(s) not stored ({2}); sent as pending", _id, pending.Length, e);
            foreach (var c in _commands.Where(c => !TwinRules.IsFinished(c.State))) subscriber.Tell(c);
        });
    }

    private List<IActorRef> DeviceConnections() =>
        _subscribers is null ? [] : _subscribers.Where(kv => kv.Value.IsDevice).Select(kv => kv.Key).ToList();

    private void Notify(DeviceTwin twin, bool devices, bool followers)
    {
        if (_subscribers is null) return;
        foreach (var (subscriber, s) in _subscribers)
            if (s.IsDevice ? devices : followers)
                subscriber.Tell(twin);
    }

    private void NotifyFollowers(object message)
    {
        if (_followers == 0 || _subscribers is null) return;
        foreach (var (subscriber, s) in _subscribers)
            if (!s.IsDevice)
                subscriber.Tell(message);
    }

    /// <summary>An ack this entity sends for the device, also to its followers (nothing to do without followers).</summary>
    private void TellAck(IActorRef replyTo, IngestAck ack, long started, bool frame)
    {
        replyTo.Tell(ack);
        Observability.IngestMetrics.Acknowledged(ack, started, frame);
        if (_followers > 0) NotifyFollowers(ack);
    }

    private void Alert(long seq, long ts, string detail)
    {
        if (_followers > 0) NotifyFollowers(new DeviceAlert(_id, "anomaly", seq, ts, detail));
    }

    /// <summary>Tells every subscriber it is detached (the entity stops: passivation or hand-off); the front doors re-attach.</summary>
    private void DetachAll()
    {
        if (_subscribers is null) return;
        foreach (var (subscriber, s) in _subscribers) subscriber.Tell(new DetachDevice(_id, s.Path));
        _subscribers = null;
        _followers = 0;
    }

    private void ReplaceCommand(CommandStatus updated)
    {
        var at = _commands.FindIndex(c => c.CommandId == updated.CommandId);
        if (at >= 0) _commands[at] = updated;
        else _commands.Add(updated);
    }

    /// <summary>The same bound as the store's: finished commands beyond the limit go, oldest first.</summary>
    private void TrimCommands(int max)
    {
        var excess = _commands.Count - max;
        if (excess <= 0) return;
        foreach (var old in _commands.Where(c => TwinRules.IsFinished(c.State)).OrderBy(c => c.UpdatedAt).ThenBy(c => c.CreatedAt)
                     .ThenBy(c => c.CommandId, StringComparer.Ordinal).Take(excess).ToList())
            _commands.Remove(old);
    }

    private static string ExpiryKey(string commandId) => "expire:" + commandId;

    private void ArmExpiry(CommandStatus c, long now) =>
        Timers.StartSingleTimer(ExpiryKey(c.CommandId), new CommandExpired(c.CommandId), TimeSpan.FromMilliseconds(Math.Max(0, c.ExpiresAt - now)));

    private CommandStatus Refused(DeviceId device, string id, string name, string error) =>
        new(device, id, name, "", CommandState.Pending, 0, 0, 0, "", error);

    /// <summary>The error answer for a twin message (null: the message has no answer).</summary>
    private object? TwinError(object message, string error) => message switch
    {
        SetDesired or ReportTwin or GetTwin => new TwinResult(((IWithDeviceId)message).DeviceId, null, error),
        SendCommand s => Refused(s.DeviceId, s.CommandId ?? "", s.Name ?? "", error),
        AcknowledgeCommand a => Refused(a.DeviceId, a.CommandId ?? "", "", error),
        GetCommands g => new DeviceCommands(g.DeviceId, [], error),
        _ => null,
    };
}
