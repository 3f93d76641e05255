using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Event;
using EdgeActors.Actors.Gateway;
using EdgeActors.Actors.Observability;
using EdgeActors.Client.Security;
using EdgeActors.Messages;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace EdgeActors.Mqtt;

/// <summary>How the broker authenticates clients (from <c>edgeactors.security</c>).</summary>
/// <param name="Tokens">client tokens are checked (password = token); null: no tokens configured.</param>
/// <param name="Tls">the node's certificate and the deployment's CA (the TLS port); null: no TLS.</param>
public sealed record MqttSecurity(ClientAuth? Tokens, TlsCredentials? Tls)
{
    public static readonly MqttSecurity Off = new(null, null);
}

/// <summary>
/// The MQTT broker of an edge node (MQTTnet 5 server): authenticates clients, checks every publish and subscription
/// against the client's rights, turns device publishes into the cluster's messages and sends them to the device
/// entities through the shard region (Ask: this is not an actor), and completes a publish (PUBACK for QoS 1) only
/// after the entity answered and the data is durable on the edge. MQTTnet processes one publish per connection at a
/// time (the next packet is read after the interceptor completed), so a slow answer holds that client back: that is
/// the backpressure. Answers go back to the device on its topics (docs/mqtt.md).
/// </summary>
public sealed class MqttBroker : IAsyncDisposable
{
    /// <summary>The client id our own publishes go out with (client ids starting with '$' are refused).</summary>
    public const string BrokerClientId = "$edgeactors";

    private readonly IActorRef _devices;
    private readonly MqttSettings _settings;
    private readonly MqttSecurity _security;
    private readonly int _maxIdLength;
    private readonly ILoggingAdapter _log;
    private readonly MqttServer _server;
    private readonly ConcurrentDictionary<string, ClientClaims> _claims = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _cleanStart = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TimeSpan> _expiry = new(StringComparer.Ordinal);
    private readonly MqttSessionBook _sessions;
    private readonly Timer _sweep;
    private IActorRef _bridge = ActorRefs.Nobody;
    private int _connections;
    private int _sweeping;

    /// <summary>How often sessions whose clients stayed away longer than their expiry are looked for.</summary>
    internal static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(1);

    public MqttBroker(IActorRef devices, MqttSettings settings, MqttSecurity security, int maxIdLength, ILoggingAdapter log)
    {
        _devices = devices;
        _settings = settings;
        _security = security;
        _maxIdLength = maxIdLength;
        _log = log;
        _sessions = new MqttSessionBook(settings.SessionExpiry);
        _sweep = new Timer(_ => _ = SweepAsync(), null, Timeout.Infinite, Timeout.Infinite);
        var factory = new MqttServerFactory();
        var options = factory.CreateServerOptionsBuilder()
            .WithPersistentSessions(settings.PersistentSessions)
            .WithMaxPendingMessagesPerClient(settings.MaxPendingPerClient)
            .Build();
        var bind = IPAddress.Parse(settings.Bind);
        PlainPort = security.Tls is not null && !settings.PlainWithTls ? 0 : settings.Port;
        TlsPort = security.Tls is null ? 0 : settings.TlsPort;
        options.DefaultEndpointOptions.IsEnabled = PlainPort > 0;
        options.DefaultEndpointOptions.Port = PlainPort;
        options.DefaultEndpointOptions.BoundInterNetworkAddress = bind;
        options.DefaultEndpointOptions.BoundInterNetworkV6Address = IPAddress.IPv6None;
        options.DefaultEndpointOptions.ReuseAddress = true;
        if (security.Tls is { } tls && TlsPort > 0)
        {
            options.TlsEndpointOptions.IsEnabled = true;
            options.TlsEndpointOptions.Port = TlsPort;
            options.TlsEndpointOptions.BoundInterNetworkAddress = bind;
            options.TlsEndpointOptions.BoundInterNetworkV6Address = IPAddress.IPv6None;
            options.TlsEndpointOptions.ReuseAddress = true;
            options.TlsEndpointOptions.CertificateProvider = new MQTTnet.Certificates.X509CertificateProvider(tls.Certificate);
            // a client certificate is asked for but not required: clients with a token connect without one
            options.TlsEndpointOptions.ClientCertificateRequired = true;
            options.TlsEndpointOptions.RemoteCertificateValidationCallback = ValidateClientCertificate;
        }
        _server = factory.CreateMqttServer(options);
        _server.ValidatingConnectionAsync += ValidateConnection;
        _server.ClientConnectedAsync += Connected;
        _server.ClientDisconnectedAsync += Disconnected;
        _server.InterceptingPublishAsync += InterceptPublish;
        _server.InterceptingSubscriptionAsync += InterceptSubscription;
        _server.ClientUnsubscribedTopicAsync += Unsubscribed;
        _server.SessionDeletedAsync += SessionDeleted;
        _server.InterceptingOutboundPacketAsync += InterceptOutbound;
    }

    /// <summary>The plain port listened on (0: none).</summary>
    public int PlainPort { get; }

    /// <summary>The TLS port listened on (0: none).</summary>
    public int TlsPort { get; }

    /// <summary>The actor that attaches device sessions to their entities and publishes what they send (set before start).</summary>
    public void UseBridge(IActorRef bridge) => _bridge = bridge;

    public async Task StartAsync()
    {
        await _server.StartAsync().ConfigureAwait(false);
        _sweep.Change(SweepInterval, SweepInterval);
        _log.Info("mqtt: broker listening on {0} (plain port {1}, TLS port {2}; {3})", _settings.Bind,
            PlainPort == 0 ? "off" : PlainPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            TlsPort == 0 ? "off" : TlsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            _security.Tokens is not null ? "client tokens or certificates required"
            : _security.Tls is not null ? "client certificates required" : "anonymous clients accepted");
    }

    public async Task StopAsync()
    {
        _sweep.Change(Timeout.Infinite, Timeout.Infinite);
        if (_server.IsStarted) await _server.StopAsync(new MqttServerStopOptions()).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await _sweep.DisposeAsync().ConfigureAwait(false);
        _server.Dispose();
    }

    /// <summary>Publishes to the broker's subscribers as the broker (acks, twins, commands).</summary>
    public Task PublishAsync(string topic, byte[] payload, bool retain = false, MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.AtLeastOnce)
    {
        var message = new MqttApplicationMessage
        {
            Topic = topic,
            Payload = new ReadOnlySequence<byte>(payload),
            QualityOfServiceLevel = qos,
            Retain = retain,
            ContentType = "application/json",
        };
        return _server.InjectApplicationMessage(new InjectedMqttApplicationMessage(message) { SenderClientId = BrokerClientId });
    }

    // ------------------------------------------------------------------ connections

    private bool ValidateClientCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null) return true; // a token is checked at CONNECT
        using var cert = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        var problem = Certificates.Check(cert, _security.Tls!.Authority);
        if (problem is not null) _log.Warning("mqtt: refused TLS client certificate '{0}': {1}", cert.Subject, problem);
        return problem is null;
    }

    private Task ValidateConnection(ValidatingConnectionEventArgs e)
    {
        var clientId = e.ClientId ?? "";
        if (clientId.Length == 0 && e.ProtocolVersion == MQTTnet.Formatter.MqttProtocolVersion.V500)
            e.AssignedClientIdentifier = clientId = "anon-" + Guid.NewGuid().ToString("N");
        string? Refuse(MqttConnectReasonCode code, string why)
        {
            e.ReasonCode = code;
            e.ReasonString = why;
            _log.Warning("mqtt: refused connect of client '{0}' (user '{1}') from {2}: {3} ({4})", clientId, e.UserName ?? "", e.RemoteEndPoint, why, code);
            return why;
        }

        if (clientId.StartsWith('$'))
        {
            Refuse(MqttConnectReasonCode.ClientIdentifierNotValid, $"client id '{clientId}' must not start with '$'");
            return Task.CompletedTask;
        }
        if (Volatile.Read(ref _connections) >= _settings.MaxConnections)
        {
            Refuse(MqttConnectReasonCode.ServerBusy, $"the broker has {_settings.MaxConnections} connections (edgeactors.mqtt.max-connections)");
            return Task.CompletedTask;
        }
        ClientClaims? claims = null;
        if (e.ClientCertificate is { } cert)
        {
            // checked against the deployment's CA by the TLS handshake: a node or trusted app, all rights
            _log.Info("mqtt: client '{0}' authenticated by certificate '{1}'", clientId, cert.Subject);
        }
        else if (_security.Tokens is { } auth)
        {
            var token = e.Password;
            if (string.IsNullOrEmpty(token))
            {
                Refuse(MqttConnectReasonCode.BadUserNameOrPassword,
                    "no client token: the password must be a client token (edgeactors certs), or present a client certificate on the TLS port");
                return Task.CompletedTask;
            }
            var check = ClientTokens.Verify(auth.Key, token, auth.Time.GetUtcNow());
            if (!check.Ok)
            {
                var code = check.Error!.Contains("expired", StringComparison.Ordinal) ? MqttConnectReasonCode.NotAuthorized : MqttConnectReasonCode.BadUserNameOrPassword;
                Refuse(code, check.Error);
                return Task.CompletedTask;
            }
            claims = check.Claims!;
            if (!string.IsNullOrEmpty(e.UserName) && e.UserName != claims.ClientId)
            {
                Refuse(MqttConnectReasonCode.BadUserNameOrPassword, $"username '{e.UserName}' is not the token's client '{claims.ClientId}' (username = the token's client id)");
                return Task.CompletedTask;
            }
        }
        else if (_security.Tls is not null)
        {
            Refuse(MqttConnectReasonCode.NotAuthorized,
                "no client certificate: with TLS on and client tokens off, clients present a certificate of the deployment's CA");
            return Task.CompletedTask;
        }
        if (claims is null) _claims.TryRemove(clientId, out _);
        else _claims[clientId] = claims;
        var cleanStart = e.CleanSession ?? true;
        _cleanStart[clientId] = cleanStart;
        _expiry[clientId] = MqttSessionBook.Expiry(e.ProtocolVersion == MQTTnet.Formatter.MqttProtocolVersion.V500, cleanStart,
            e.SessionExpiryInterval, _settings.SessionExpiry);
        return Task.CompletedTask;
    }

    private async Task Connected(ClientConnectedEventArgs e)
    {
        Interlocked.Increment(ref _connections);
        var clean = !_cleanStart.TryGetValue(e.ClientId, out var c) || c;
        _sessions.Connected(e.ClientId, _expiry.GetValueOrDefault(e.ClientId, _settings.SessionExpiry), clean);
        if (!clean)
        {
            // a persistent session keeps its subscriptions: the rights they were granted under may be gone with the
            // token of this connection (another device prefix, fewer scopes). MQTTnet sends the session's queue only
            // after this handler, so the refused ones end before anything is delivered on them.
            var claims = ClaimsOf(e.ClientId);
            var refused = _sessions.Refused(e.ClientId, filter => Expired(claims) ?? MqttAccess.CanSubscribe(claims, filter, _maxIdLength));
            if (refused.Count > 0)
            {
                foreach (var (filter, why) in refused)
                    _log.Warning("mqtt: client '{0}' reconnected without the right to its subscription '{1}', removed: {2}", e.ClientId, filter, why);
                var lost = refused.Select(r => MqttTopics.FollowedDevice(r.Filter)).OfType<string>()
                    .Except(_sessions.Subscriptions(e.ClientId).Select(MqttTopics.FollowedDevice).OfType<string>(), StringComparer.Ordinal).ToArray();
                if (lost.Length > 0) _bridge.Tell(new MqttDeviceBridge.SessionUnfollows(e.ClientId, lost));
                try
                {
                    await _server.UnsubscribeAsync(e.ClientId, refused.Select(r => r.Filter).ToList()).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    // still not delivered: the outbound check below drops what the client may not receive
                    _log.Error(ex, "mqtt: could not remove the refused subscriptions of client '{0}'", e.ClientId);
                }
            }
        }
        _bridge.Tell(new MqttDeviceBridge.SessionConnected(e.ClientId, clean));
    }

    private Task Disconnected(ClientDisconnectedEventArgs e)
    {
        Interlocked.Decrement(ref _connections);
        _sessions.Disconnected(e.ClientId, DateTimeOffset.UtcNow, e.SessionExpiryInterval);
        if (_settings.PersistentSessions && e.DisconnectType != MqttClientDisconnectType.Takeover && _sessions.IsAway(e.ClientId)
            && _sessions.ExpiryOf(e.ClientId) is { } keep && keep > TimeSpan.Zero)
            _log.Info("mqtt: client '{0}' disconnected; its session is kept for {1}", e.ClientId, keep);
        _bridge.Tell(new MqttDeviceBridge.SessionDisconnected(e.ClientId));
        return Task.CompletedTask;
    }

    private Task SessionDeleted(SessionDeletedEventArgs e)
    {
        // MQTTnet deleted it (MQTT 5 expiry 0 at disconnect, persistent sessions off) or the sweep did
        _sessions.Forget(e.Id);
        _claims.TryRemove(e.Id, out _);
        _cleanStart.TryRemove(e.Id, out _);
        _expiry.TryRemove(e.Id, out _);
        _bridge.Tell(new MqttDeviceBridge.SessionEnded(e.Id));
        return Task.CompletedTask;
    }

    /// <summary>Deletes the sessions whose clients have been away longer than their expiry (a timer, not an actor).</summary>
    private async Task SweepAsync()
    {
        if (Interlocked.Exchange(ref _sweeping, 1) == 1) return; // the last sweep is still deleting
        try
        {
            var expired = _sessions.Expired(DateTimeOffset.UtcNow);
            if (expired.Count == 0) return;
            var sessions = (await _server.GetSessionsAsync().ConfigureAwait(false)).ToDictionary(x => x.Id, StringComparer.Ordinal);
            foreach (var (clientId, expiry) in expired)
            {
                if (_sessions.ExpiryOf(clientId) is not null) continue; // its client came back meanwhile: the session is in use again
                _log.Info("mqtt: session of client '{0}' expired (away longer than {1}): deleted with its subscriptions and queued messages", clientId, expiry);
                if (sessions.TryGetValue(clientId, out var session)) await session.DeleteAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            _log.Error(ex, "mqtt: session expiry sweep failed");
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    private Task InterceptOutbound(InterceptingPacketEventArgs e)
    {
        if (e.Packet is MqttConnAckPacket ack) ack.ReceiveMaximum = (ushort)_settings.ReceiveMaximum;
        else if (e.Packet is MqttPublishPacket publish && ClaimsOf(e.ClientId) is { } claims
                 && (Expired(claims) ?? MqttAccess.CanSubscribe(claims, publish.Topic, _maxIdLength)) is { } why)
        {
            // queued for a subscription the client's current token no longer covers: not delivered
            e.ProcessPacket = false;
            _log.Warning("mqtt: not delivered to client '{0}' on '{1}': {2}", e.ClientId, publish.Topic, why);
        }
        return Task.CompletedTask;
    }

    private Task Unsubscribed(ClientUnsubscribedTopicEventArgs e)
    {
        _sessions.Unsubscribed(e.ClientId, e.TopicFilter);
        return Task.CompletedTask;
    }

    private ClientClaims? ClaimsOf(string clientId) => _claims.TryGetValue(clientId, out var c) ? c : null;

    // ------------------------------------------------------------------ subscriptions

    private Task InterceptSubscription(InterceptingSubscriptionEventArgs e)
    {
        var filter = e.TopicFilter.Topic;
        var claims = ClaimsOf(e.ClientId);
        var problem = Expired(claims) ?? MqttAccess.CanSubscribe(claims, filter, _maxIdLength);
        if (problem is not null)
        {
            e.ProcessSubscription = false;
            e.Response.ReasonCode = MqttSubscribeReasonCode.NotAuthorized;
            e.Response.ReasonString = problem;
            _log.Warning("mqtt: refused subscription of client '{0}' to '{1}': {2}", e.ClientId, filter, problem);
            return Task.CompletedTask;
        }
        _sessions.Subscribed(e.ClientId, filter);
        // a session that follows a device's twin or commands is that device's connection
        if (MqttTopics.FollowedDevice(filter) is { } device)
            _bridge.Tell(new MqttDeviceBridge.SessionFollows(e.ClientId, device));
        return Task.CompletedTask;
    }

    private static string? Expired(ClientClaims? claims) =>
        claims is not null && claims.ExpiresAt <= DateTimeOffset.UtcNow ? $"unauthenticated: client token of '{claims.ClientId}' expired at {claims.ExpiresAt:u}" : null;

    // ------------------------------------------------------------------ publishes

    private async Task InterceptPublish(InterceptingPublishEventArgs e)
    {
        try
        {
            await InterceptPublishCore(e).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // a bug of ours must not take the connection's loop down with an unclear error: refused, named, logged
            _log.Error(ex, "mqtt: publish of client '{0}' on '{1}' failed", e.ClientId, e.ApplicationMessage.Topic);
            e.ProcessPublish = false;
            e.Response.ReasonCode = MqttPubAckReasonCode.ImplementationSpecificError;
            e.Response.ReasonString = "the broker failed on this publish: " + ex.GetBaseException().Message;
        }
    }

    private async Task InterceptPublishCore(InterceptingPublishEventArgs e)
    {
        if (e.ClientId == BrokerClientId) return; // ours
        var message = e.ApplicationMessage;
        var topic = message.Topic;
        var claims = ClaimsOf(e.ClientId);
        var problem = Expired(claims) ?? MqttAccess.CanPublish(claims, topic, _maxIdLength);
        if (problem is not null)
        {
            Refuse(e, MqttPubAckReasonCode.NotAuthorized, problem, answerDevice: null);
            return;
        }
        if (MqttTopics.Parse(topic) is not { } t) return; // another topic: relayed like any broker
        e.ProcessPublish = false; // consumed here: device data is not relayed to other subscribers
        if (message.Payload.Length > _settings.MaxPayload)
        {
            Refuse(e, MqttPubAckReasonCode.QuotaExceeded,
                $"payload of {message.Payload.Length} bytes exceeds edgeactors.mqtt.max-payload ({_settings.MaxPayload} bytes); nothing was accepted", t.DeviceId);
            return;
        }
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var fireAndForget = message.QualityOfServiceLevel == MqttQualityOfServiceLevel.AtMostOnce;
        switch (t.Kind)
        {
            case MqttTopicKind.Telemetry:
            {
                var parsed = MqttPayloads.ParseTelemetry(t.DeviceId, message.Payload, now);
                if (parsed.Error is not null)
                {
                    Refuse(e, MqttPubAckReasonCode.PayloadFormatInvalid, parsed.Error, t.DeviceId);
                    return;
                }
                await Complete(e, Ingest(t.DeviceId, parsed.Value!), fireAndForget).ConfigureAwait(false);
                return;
            }
            case MqttTopicKind.Frames:
            {
                var props = message.UserProperties;
                var parsed = MqttPayloads.ParseFrame(t.DeviceId, message.Payload,
                    name => props?.FirstOrDefault(p => p.Name == name)?.ReadValueAsString(), now, _settings.MaxPayload);
                if (parsed.Error is not null)
                {
                    Refuse(e, MqttPubAckReasonCode.PayloadFormatInvalid, parsed.Error, t.DeviceId);
                    return;
                }
                await Complete(e, Ingest(t.DeviceId, parsed.Value!), fireAndForget).ConfigureAwait(false);
                return;
            }
            case MqttTopicKind.TwinUpdate:
            {
                var parsed = MqttPayloads.ParseTwinUpdate(t.DeviceId, message.Payload);
                if (parsed.Error is not null)
                {
                    Refuse(e, MqttPubAckReasonCode.PayloadFormatInvalid, parsed.Error, null);
                    await SafePublish(MqttTopics.TwinUpdateResult(t.DeviceId), MqttPayloads.Twin(MqttPayloads.EventId(message.Payload), now, null, parsed.Error)).ConfigureAwait(false);
                    return;
                }
                await Complete(e, Twin(parsed.Value!.Report, parsed.Value.EventId, MqttTopics.TwinUpdateResult(t.DeviceId)), fireAndForget).ConfigureAwait(false);
                return;
            }
            case MqttTopicKind.TwinGet:
                await Complete(e, Twin(new GetTwin(new DeviceId(t.DeviceId)), MqttPayloads.EventId(message.Payload), MqttTopics.TwinGetResult(t.DeviceId)), fireAndForget).ConfigureAwait(false);
                return;
            case MqttTopicKind.CommandAck:
            {
                var parsed = MqttPayloads.ParseCommandAck(t.DeviceId, message.Payload);
                if (parsed.Error is not null)
                {
                    Refuse(e, MqttPubAckReasonCode.PayloadFormatInvalid, parsed.Error, t.DeviceId);
                    return;
                }
                await Complete(e, CommandAck(parsed.Value!), fireAndForget).ConfigureAwait(false);
                return;
            }
        }
    }

    /// <summary>What became of a publish handed to the cluster.</summary>
    private enum Outcome { Done, Refused, NoAnswer, Busy }

    private async Task Complete(InterceptingPublishEventArgs e, Task<(Outcome Outcome, string Detail)> work, bool fireAndForget)
    {
        if (fireAndForget)
        {
            // QoS 0: no PUBACK to hold back; the answer still comes on the ack topic
            _ = work.ContinueWith(t =>
                {
                    if (t.IsFaulted) _log.Warning("mqtt: QoS 0 publish of '{0}' failed: {1}", e.ClientId, t.Exception?.GetBaseException().Message);
                    EntryMetrics.MqttAnswered(t.IsFaulted ? "failed" : OutcomeLabel(t.Result.Outcome));
                },
                TaskScheduler.Default);
            return;
        }
        var (outcome, detail) = await work.ConfigureAwait(false);
        EntryMetrics.MqttAnswered(OutcomeLabel(outcome));
        switch (outcome)
        {
            case Outcome.Refused:
                e.Response.ReasonCode = MqttPubAckReasonCode.ImplementationSpecificError;
                e.Response.ReasonString = detail;
                break;
            case Outcome.NoAnswer or Outcome.Busy:
                // no PUBACK: the connection is closed and the device resends (same sequence numbers: Duplicate if it was kept)
                _log.Warning("mqtt: closing client '{0}' without PUBACK on '{1}': {2}", e.ClientId, e.ApplicationMessage.Topic, detail);
                e.CloseConnection = true;
                break;
        }
    }

    private static string OutcomeLabel(Outcome outcome) => outcome switch
    {
        Outcome.Done => "done",
        Outcome.Refused => "refused",
        Outcome.NoAnswer => "no_answer",
        _ => "busy",
    };

    private void Refuse(InterceptingPublishEventArgs e, MqttPubAckReasonCode code, string why, string? answerDevice)
    {
        EntryMetrics.MqttAnswered(answerDevice is null ? "unauthorised" : "invalid");
        e.ProcessPublish = false;
        e.Response.ReasonCode = code;
        e.Response.ReasonString = why.Length > 200 ? why[..200] : why;
        _log.Warning("mqtt: refused publish of client '{0}' on '{1}': {2} ({3})", e.ClientId, e.ApplicationMessage.Topic, why, code);
        // payload errors are answered on the device's ack topic too (MQTT 3.1.1 has no reason code in PUBACK);
        // an authorisation refusal is not: the topic's device is not the client's
        if (answerDevice is not null) _ = SafePublish(MqttTopics.Ack(answerDevice), MqttPayloads.Error(answerDevice, e.ApplicationMessage.Topic, why));
    }

    private async Task SafePublish(string topic, byte[] payload, bool retain = false)
    {
        try
        {
            await PublishAsync(topic, payload, retain).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException or OperationCanceledException)
        {
            _log.Warning("mqtt: could not publish on '{0}': {1}", topic, ex.Message);
        }
    }

    /// <summary>
    /// Sends device data to its entity and answers on the ack topic. Readings refused as Overloaded or OutboxFull are
    /// sent again after a pause (doubling) until edgeactors.mqtt.backpressure-timeout: the PUBACK waits meanwhile.
    /// </summary>
    private async Task<(Outcome, string)> Ingest(string deviceId, IDeviceCommand command)
    {
        var deadline = DateTime.UtcNow + _settings.BackpressureTimeout;
        var backoff = _settings.RetryBackoffMin;
        var accepted = 0;
        var kept = new List<Rejection>();
        var toldBusy = false;
        while (true)
        {
            IngestAck ack;
            try
            {
                ack = await _devices.Ask<IngestAck>(command, _settings.AskTimeout).ConfigureAwait(false);
            }
            catch (AskTimeoutException)
            {
                return (Outcome.NoAnswer, $"no answer from device '{deviceId}' within {_settings.AskTimeout.TotalSeconds:0.#}s (edgeactors.mqtt.ask-timeout)");
            }
            catch (Exception ex) when (ex is InvalidCastException or InvalidOperationException or OperationCanceledException)
            {
                return (Outcome.NoAnswer, $"device '{deviceId}' did not answer: {ex.Message}");
            }
            accepted += ack.Accepted;
            var busy = ack.Rejected.Where(r => r.Reason is RejectReason.Overloaded or RejectReason.OutboxFull).ToArray();
            kept.AddRange(ack.Rejected.Where(r => r.Reason is not (RejectReason.Overloaded or RejectReason.OutboxFull)));
            if (busy.Length == 0)
            {
                await SafePublish(MqttTopics.Ack(deviceId), MqttPayloads.Ack(ack with { Accepted = accepted, Rejected = kept.ToArray() })).ConfigureAwait(false);
                return (Outcome.Done, "");
            }
            if (!toldBusy)
            {
                // the device hears why its PUBACK is late (once per publish)
                toldBusy = true;
                await SafePublish(MqttTopics.Ack(deviceId), MqttPayloads.Ack(ack with { Accepted = accepted, Rejected = [.. kept, .. busy] })).ConfigureAwait(false);
            }
            if (DateTime.UtcNow + backoff > deadline)
                return (Outcome.Busy, $"device '{deviceId}': {busy.Length} readings still refused ({busy[0].Reason}: {busy[0].Detail}) after {_settings.BackpressureTimeout.TotalSeconds:0.#}s (edgeactors.mqtt.backpressure-timeout)");
            await Task.Delay(backoff).ConfigureAwait(false);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _settings.RetryBackoffMax.Ticks));
            command = Remaining(command, busy);
        }
    }

    /// <summary>The part of <paramref name="command"/> that was refused as busy (a telemetry batch shrinks to those readings).</summary>
    internal static IDeviceCommand Remaining(IDeviceCommand command, Rejection[] busy)
    {
        if (command is not TelemetryBatch b) return command;
        var refused = busy.Select(r => r.Sequence).ToHashSet();
        var seqs = new List<long>();
        var times = new List<long>();
        var values = new List<float>();
        for (var i = 0; i < b.Count; i++)
        {
            if (!refused.Contains(b.Sequences[i])) continue;
            seqs.Add(b.Sequences[i]);
            times.Add(b.Timestamps[i]);
            values.AddRange(b.Values.AsSpan(i * b.Channels, b.Channels));
        }
        return seqs.Count == 0 ? b : b with { Sequences = seqs.ToArray(), Timestamps = times.ToArray(), Values = values.ToArray() };
    }

    private async Task<(Outcome, string)> Twin(IWithDeviceId request, string eventId, string resultTopic)
    {
        TwinResult result;
        try
        {
            result = await _devices.Ask<TwinResult>(request, _settings.AskTimeout).ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            return (Outcome.NoAnswer, $"no twin answer from device '{request.DeviceId.Value}' within {_settings.AskTimeout.TotalSeconds:0.#}s");
        }
        catch (Exception ex) when (ex is InvalidCastException or InvalidOperationException or OperationCanceledException)
        {
            return (Outcome.NoAnswer, $"device '{request.DeviceId.Value}' did not answer the twin request: {ex.Message}");
        }
        await SafePublish(resultTopic, MqttPayloads.Twin(eventId, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), result.Twin, result.Error)).ConfigureAwait(false);
        return result.Error.Length > 0 ? (Outcome.Refused, result.Error) : (Outcome.Done, "");
    }

    private async Task<(Outcome, string)> CommandAck(AcknowledgeCommand ack)
    {
        CommandStatus status;
        try
        {
            status = await _devices.Ask<CommandStatus>(ack, _settings.AskTimeout).ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            return (Outcome.NoAnswer, $"no answer from device '{ack.DeviceId.Value}' to the acknowledgement of command '{ack.CommandId}'");
        }
        catch (Exception ex) when (ex is InvalidCastException or InvalidOperationException or OperationCanceledException)
        {
            return (Outcome.NoAnswer, $"device '{ack.DeviceId.Value}' did not answer the acknowledgement of command '{ack.CommandId}': {ex.Message}");
        }
        if (status.Error.Length > 0)
        {
            _log.Warning("mqtt: acknowledgement of command '{0}' by device '{1}' refused: {2}", ack.CommandId, ack.DeviceId.Value, status.Error);
            return (Outcome.Refused, status.Error);
        }
        return (Outcome.Done, "");
    }
}
