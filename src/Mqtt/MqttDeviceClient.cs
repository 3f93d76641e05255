using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Threading.Channels;
using EdgeActors.Client;
using EdgeActors.Client.Security;
using EdgeActors.Messages;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace EdgeActors.Mqtt;

/// <summary>Where and how a simulated device connects to an edge's broker.</summary>
/// <param name="Ca">the deployment's CA certificate (PEM path) for TLS; null: plain MQTT.</param>
public sealed record MqttEndpoint(string Host, int Port, string? Ca, string User, string Token)
{
    /// <summary><c>host:port</c>, TLS with the CA at <paramref name="ca"/> when given.</summary>
    public static MqttEndpoint Parse(string hostPort, string? ca, string user, string token)
    {
        var i = hostPort.LastIndexOf(':');
        if (i <= 0 || !int.TryParse(hostPort[(i + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port))
            throw new ArgumentException($"MQTT endpoint '{hostPort}' must be host:port");
        return new MqttEndpoint(hostPort[..i], port, ca, user, token);
    }
}

/// <summary>
/// One device's MQTT connection (MQTTnet client, MQTT 5, QoS 1), sending the cluster's messages as the broker's
/// payloads and turning the answers on its ack topic back into <see cref="IngestAck"/>s: the simulator, the demo and
/// the bench drive devices through the edges' brokers with it. One request at a time (as a device does). A publish
/// the broker did not acknowledge (connection closed without PUBACK) is sent again on a new connection with the same
/// sequence numbers, up to <c>attempts</c> times.
/// </summary>
public sealed class MqttDeviceClient : IAsyncDisposable
{
    private readonly MqttEndpoint _endpoint;
    private readonly string _deviceId;
    private readonly IMqttClient _client;
    private readonly Channel<JsonElement> _acks = Channel.CreateUnbounded<JsonElement>();
    private readonly SemaphoreSlim _one = new(1, 1);
    private readonly X509Certificate2? _ca;

    public MqttDeviceClient(MqttEndpoint endpoint, string deviceId)
    {
        _endpoint = endpoint;
        _deviceId = deviceId;
        _ca = endpoint.Ca is null ? null : Certificates.LoadAuthority(endpoint.Ca, "--mqtt-ca");
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += e =>
        {
            using var doc = JsonDocument.Parse(e.ApplicationMessage.Payload);
            _acks.Writer.TryWrite(doc.RootElement.Clone());
            return Task.CompletedTask;
        };
    }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    public int Attempts { get; init; } = 5;

    private async Task ConnectAsync(CancellationToken ct)
    {
        if (_client.IsConnected) return;
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(_endpoint.Host, _endpoint.Port)
            .WithClientId(_deviceId)
            .WithCredentials(_endpoint.User, _endpoint.Token)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanStart(true)
            .WithTimeout(Timeout);
        if (_ca is not null)
            builder = builder.WithTlsOptions(o => o.UseTls().WithCertificateValidationHandler(a =>
                a.Certificate is not null && Certificates.Check(X509CertificateLoader.LoadCertificate(a.Certificate.GetRawCertData()), _ca) is null));
        var result = await _client.ConnectAsync(builder.Build(), ct).ConfigureAwait(false);
        if (result.ResultCode != MqttClientConnectResultCode.Success)
            throw new InvalidOperationException($"MQTT connect of '{_deviceId}' to {_endpoint.Host}:{_endpoint.Port} refused: {result.ResultCode} {result.ReasonString}");
        await _client.SubscribeAsync(MqttTopics.Ack(_deviceId), MqttQualityOfServiceLevel.AtLeastOnce, ct).ConfigureAwait(false);
    }

    /// <summary>Publishes the batch or frame and waits for its answer on the ack topic.</summary>
    public async Task<Reply<IngestAck>> SendAsync(IDeviceCommand command, CancellationToken ct = default)
    {
        var message = Message(command);
        await _one.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await ConnectAsync(ct).ConfigureAwait(false);
                    while (_acks.Reader.TryRead(out _)) { } // answers of earlier, abandoned attempts
                    var result = await _client.PublishAsync(message, ct).ConfigureAwait(false);
                    if (result.ReasonCode is not (MqttClientPublishReasonCode.Success or MqttClientPublishReasonCode.NoMatchingSubscribers))
                        throw new InvalidOperationException($"publish refused: {result.ReasonCode} {result.ReasonString}");
                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    wait.CancelAfter(Timeout);
                    while (true)
                    {
                        var ack = await _acks.Reader.ReadAsync(wait.Token).ConfigureAwait(false);
                        if (ack.TryGetProperty("error", out var error)) throw new InvalidOperationException(error.GetString());
                        var parsed = Ack(ack);
                        // an answer naming Overloaded/OutboxFull comes while the broker still retries: the final one follows
                        if (parsed.Rejected.Any(r => r.Reason is RejectReason.Overloaded or RejectReason.OutboxFull)) continue;
                        return new Reply<IngestAck>(parsed, attempt);
                    }
                }
                catch (Exception ex) when (attempt < Attempts && !ct.IsCancellationRequested
                                           && ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or InvalidOperationException)
                {
                    // no PUBACK or no answer: a new connection, the same sequence numbers (Duplicate if it was kept)
                    try { await _client.DisconnectAsync(cancellationToken: CancellationToken.None).ConfigureAwait(false); } catch (Exception) { /* already gone */ }
                    await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), ct).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            _one.Release();
        }
    }

    private MqttApplicationMessage Message(IDeviceCommand command)
    {
        switch (command)
        {
            case TelemetryBatch b:
                return new MqttApplicationMessageBuilder().WithTopic(MqttTopics.Telemetry(_deviceId))
                    .WithPayload(TelemetryJson(b)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
            case CameraFrame f:
                var m = new MqttApplicationMessageBuilder().WithTopic(MqttTopics.Frames(_deviceId)).WithPayload(f.Pixels)
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                    .WithUserProperty("seq", Utf8(f.Sequence.ToString(CultureInfo.InvariantCulture)))
                    .WithUserProperty("ts", Utf8(f.Timestamp.ToString(CultureInfo.InvariantCulture)));
                if (f.Label != CameraFrame.NoLabel) m = m.WithUserProperty("label", Utf8(f.Label.ToString(CultureInfo.InvariantCulture)));
                return m.Build();
            default:
                throw new ArgumentException($"{command.GetType().Name} has no MQTT topic");
        }
    }

    private static ReadOnlyMemory<byte> Utf8(string s) => System.Text.Encoding.UTF8.GetBytes(s);

    /// <summary><c>{"readings":[{"seq","ts","values"}...]}</c> (NaN as null).</summary>
    public static byte[] TelemetryJson(TelemetryBatch b)
    {
        var buffer = new ArrayBufferWriter<byte>(64 + b.Values.Length * 12);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartArray("readings");
            for (var i = 0; i < b.Count; i++)
            {
                w.WriteStartObject();
                w.WriteNumber("seq", b.Sequences[i]);
                w.WriteNumber("ts", b.Timestamps[i]);
                w.WriteStartArray("values");
                for (var c = 0; c < b.Channels; c++)
                {
                    var v = b.Values[i * b.Channels + c];
                    if (float.IsFinite(v)) w.WriteNumberValue(v);
                    else w.WriteNullValue();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The ack JSON back as the cluster's <see cref="IngestAck"/>.</summary>
    public static IngestAck Ack(JsonElement a)
    {
        var rejected = a.GetProperty("rejected").EnumerateArray()
            .Select(r => new Rejection(r.GetProperty("seq").GetInt64(), Enum.Parse<RejectReason>(r.GetProperty("reason").GetString()!), r.GetProperty("detail").GetString() ?? ""))
            .ToArray();
        Prediction? prediction = null;
        if (a.TryGetProperty("prediction", out var p))
            prediction = new Prediction(p.GetProperty("label").GetInt32(), (float)p.GetProperty("confidence").GetDouble(), p.GetProperty("model").GetString()!,
                p.GetProperty("version").GetInt32(), a.GetProperty("node").GetString()!, p.GetProperty("escalated").GetBoolean(), PredictionNote.None);
        return new IngestAck(new DeviceId(a.GetProperty("device").GetString()!), a.GetProperty("highestContiguous").GetInt64(), a.GetProperty("accepted").GetInt32(),
            rejected, a.GetProperty("node").GetString()!, prediction, Enum.Parse<AckLevel>(a.GetProperty("level").GetString()!));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_client.IsConnected) await _client.DisconnectAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // closing anyway
        }
        _client.Dispose();
        _one.Dispose();
        _ca?.Dispose();
    }
}

/// <summary>The devices of a simulation over MQTT: one <see cref="MqttDeviceClient"/> per device, spread over the edges' brokers.</summary>
public sealed class MqttFleet(IReadOnlyList<MqttEndpoint> endpoints) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, MqttDeviceClient> _devices = new(StringComparer.Ordinal);
    private int _next;

    public Task<Reply<IngestAck>> SendAsync(IDeviceCommand command, CancellationToken ct = default) =>
        _devices.GetOrAdd(command.DeviceId.Value, id => new MqttDeviceClient(endpoints[(Interlocked.Increment(ref _next) & int.MaxValue) % endpoints.Count], id))
            .SendAsync(command, ct);

    public async ValueTask DisposeAsync()
    {
        foreach (var d in _devices.Values) await d.DisposeAsync().ConfigureAwait(false);
    }
}
