using System.Diagnostics;
using System.Text.Json;
using EdgeActors.Client;
using EdgeActors.Client.Security;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;
using EdgeActors.Mqtt;
using EdgeActors.Nodes.Data;
using EdgeActors.Nodes.Hosting;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// The MQTT broker of an edge, driven by clients nobody here wrote: Debian's mosquitto_pub/mosquitto_sub and a Python
/// device with Debian's paho-mqtt, over TLS with client tokens (a secure local cluster: seed, datacenter, one edge
/// with a broker).
/// </summary>
public sealed class MqttTests(ITestOutputHelper output) : IAsyncLifetime
{
    private LocalCluster _cluster = null!;
    private EdgeClient _client = null!;
    private int[] _ports = [];
    private string _dir = "";
    private byte[] _tokenKey = [];

    private int MqttPort => _ports[3];
    private string Ca => Path.Combine(_cluster.CertsDirectory, Certificates.CaCertificateFile);

    public async Task InitializeAsync()
    {
        _ports = Ports.Free(4);
        _dir = TestCluster.FreshDirectory("mqtt", _ports[0]);
        _cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", _ports[0]),
            new NodeSpec("datacenter", ["datacenter"], _ports[1], []),
            new NodeSpec("edge1", ["edge"], _ports[2], ["--set", "edgeactors.sync.interval = 300ms", "--set", $"edgeactors.mqtt.session-expiry = {SessionExpirySeconds}s"]) { MqttPort = _ports[3] },
        ], _dir);
        _cluster.StartAll();
        _client = EdgeClient.Connect(TestCluster.ClientOptions(_cluster, _ports[2]) with
        {
            RequestTimeout = TimeSpan.FromSeconds(5),
            RetryDeadline = TimeSpan.FromSeconds(60),
        });
        Assert.True(await ClusterProbe.WaitForMembersAsync(_client, _cluster, 3, TimeSpan.FromSeconds(60)) is not null, "cluster did not form; logs in " + _dir);
        _tokenKey = ClientTokens.LoadKey(Path.Combine(_cluster.CertsDirectory, Certificates.TokenKeyFile));
    }

    public Task DisposeAsync() => TestCluster.StopAsync(_client, _cluster);

    private string Token(string client, string prefix, TimeSpan? life = null) =>
        ClientTokens.Issue(_tokenKey, new ClientClaims(client, [ClientTokens.Ingest], prefix, DateTimeOffset.UtcNow + (life ?? TimeSpan.FromHours(1))));

    private string[] Connection(string clientId, string user, string token, string version = "mqttv5") =>
        ["-h", "127.0.0.1", "-p", MqttPort.ToString(), "--cafile", Ca, "-i", clientId, "-u", user, "-P", token, "-V", version];

    /// <summary>mosquitto_sub on one topic, started and subscribed (its SUBACK seen) before the caller publishes.</summary>
    private sealed class Subscriber : IAsyncDisposable
    {
        private readonly Process _p;
        private readonly List<string> _messages = [];
        private readonly TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Subscriber(IEnumerable<string> args)
        {
            // line-buffered: mosquitto_sub's stdio buffers a pipe, so SUBACK and messages would arrive late
            var psi = new ProcessStartInfo("/usr/bin/stdbuf") { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add("-oL");
            psi.ArgumentList.Add("/usr/bin/mosquitto_sub");
            foreach (var a in args) psi.ArgumentList.Add(a);
            psi.ArgumentList.Add("-d");
            _p = Process.Start(psi)!;
            _p.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                if (e.Data.Contains("SUBACK", StringComparison.Ordinal)) _subscribed.TrySetResult();
                if (e.Data.StartsWith('{')) lock (_messages) _messages.Add(e.Data);
            };
            _p.ErrorDataReceived += (_, _) => { };
            _p.BeginOutputReadLine();
            _p.BeginErrorReadLine();
        }

        public Task Subscribed => _subscribed.Task.WaitAsync(TimeSpan.FromSeconds(20));

        public Task<List<JsonElement>> WaitForAsync(int count, TimeSpan timeout) => WaitForAsync(got => got.Count >= count, timeout);

        /// <summary>
        /// The messages received once <paramref name="done"/> holds for them (or all received by the timeout): a test that
        /// needs particular messages does not depend on the order a broker delivers queued and retained ones in.
        /// </summary>
        public async Task<List<JsonElement>> WaitForAsync(Func<List<JsonElement>, bool> done, TimeSpan timeout)
        {
            var end = DateTime.UtcNow + timeout;
            while (true)
            {
                var got = Received();
                if (done(got) || DateTime.UtcNow >= end) return got;
                await Task.Delay(50);
            }
        }

        private List<JsonElement> Received()
        {
            lock (_messages) return _messages.Select(m => JsonDocument.Parse(m).RootElement.Clone()).ToList();
        }

        public ValueTask DisposeAsync()
        {
            if (!_p.HasExited) _p.Kill();
            _p.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private static byte[] TrainTiny()
    {
        var train = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: true, limit: 3_000);
        var mlp = new Mlp([784, 32, 10], 1);
        MlpTrainer.Train(mlp, FashionLabels.ToFloats(train.Images, train.Count), train.Labels, train.Count, new SgdOptions(Epochs: 1, Seed: 1));
        return MlpOnnx.Export(mlp);
    }

    private string EdgeLog => File.ReadAllText(Path.Combine(_dir, "edge1.log"));

    [Fact]
    public async Task Mosquitto_clients_should_publish_telemetry_and_frames_over_TLS_with_a_token_get_acks_and_predictions_and_be_refused_on_bad_input()
    {
        Assert.Equal(1, (await _client.PublishModelAsync(new PublishModel("fmnist-mlp", TrainTiny(), [784], FashionLabels.Names, "tiny"))).Model.Version);
        Assert.True(await ModelBootstrap.WaitUntilServedAsync(_client, [$"127.0.0.1:{_ports[2]}"], "fmnist-mlp", TimeSpan.FromSeconds(60), output.WriteLine));

        const string device = "edge1/s1";
        var token = Token("sensor-s1", device);
        await using var sub = new Subscriber([.. Connection("s1-acks", "sensor-s1", token), "-t", MqttTopics.Ack(device), "-q", "1"]);
        await sub.Subscribed;

        // ---- telemetry: one reading (MQTT 5) and a batch of three (MQTT 3.1.1)
        var pub = await ExternalProcess.RunAsync("/usr/bin/mosquitto_pub", [.. Connection("s1", "sensor-s1", token), "-q", "1",
            "-t", MqttTopics.Telemetry(device), "-m", """{"seq":1,"ts":1700000000000,"values":[21.5,40,1,0]}"""], TimeSpan.FromSeconds(30));
        Assert.True(pub.Exit == 0, pub.Err);
        pub = await ExternalProcess.RunAsync("/usr/bin/mosquitto_pub", [.. Connection("s1", "sensor-s1", token, "mqttv311"), "-q", "1",
            "-t", MqttTopics.Telemetry(device), "-m", """{"readings":[{"seq":2,"values":[1,2,3,4]},{"seq":3,"values":[1,2,3,4]},{"seq":4,"values":[1,2,3,null]}]}"""],
            TimeSpan.FromSeconds(30));
        Assert.True(pub.Exit == 0, pub.Err);

        // ---- a camera frame: raw 784 bytes with seq/ts as MQTT 5 user properties, and a PNG in the JSON form (MQTT 3.1.1)
        var test = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: false, limit: 2);
        var rawFile = Path.Combine(_dir, "frame.raw");
        await File.WriteAllBytesAsync(rawFile, test.ImageCopy(0));
        const string camera = "edge1/cam1";
        var camToken = Token("camera-1", camera);
        await using var camSub = new Subscriber([.. Connection("cam1-acks", "camera-1", camToken), "-t", MqttTopics.Ack(camera), "-q", "1"]);
        await camSub.Subscribed;
        pub = await ExternalProcess.RunAsync("/usr/bin/mosquitto_pub", [.. Connection("cam1", "camera-1", camToken), "-q", "1", "-t", MqttTopics.Frames(camera),
            "-D", "publish", "user-property", "seq", "1", "-D", "publish", "user-property", "ts", "1700000000000", "-f", rawFile], TimeSpan.FromSeconds(30));
        Assert.True(pub.Exit == 0, pub.Err);
        var pngJson = JsonSerializer.Serialize(new { seq = 2, ts = 1700000000001, pixels = Convert.ToBase64String(PngGrey.Encode(test.ImageCopy(1), 28, 28)) });
        pub = await ExternalProcess.RunAsync("/usr/bin/mosquitto_pub", [.. Connection("cam1", "camera-1", camToken, "mqttv311"), "-q", "1",
            "-t", MqttTopics.Frames(camera), "-m", pngJson], TimeSpan.FromSeconds(30));
        Assert.True(pub.Exit == 0, pub.Err);

        var acks = await sub.WaitForAsync(2, TimeSpan.FromSeconds(20));
        Assert.Equal(2, acks.Count);
        Assert.All(acks, a => Assert.Equal("DurableOnEdge", a.GetProperty("level").GetString()));
        Assert.Equal([1, 2], acks.Select(a => a.GetProperty("accepted").GetInt32()).ToArray());
        Assert.Equal("NotANumber", acks[1].GetProperty("rejected")[0].GetProperty("reason").GetString());
        Assert.Equal(4, acks[1].GetProperty("highestContiguous").GetInt64());
        var frameAcks = await camSub.WaitForAsync(2, TimeSpan.FromSeconds(20));
        Assert.Equal(2, frameAcks.Count);
        foreach (var a in frameAcks)
        {
            output.WriteLine(a.ToString());
            Assert.Equal(1, a.GetProperty("accepted").GetInt32());
            var p = a.GetProperty("prediction");
            Assert.Equal("fmnist-mlp", p.GetProperty("model").GetString());
            Assert.Equal(1, p.GetProperty("version").GetInt32());
            Assert.InRange(p.GetProperty("label").GetInt32(), 0, 9);
            Assert.InRange(p.GetProperty("confidence").GetDouble(), 0.0, 1.0);
        }

        // ---- bad input: each refused with a reason, nothing accepted, the node keeps running
        pub = await ExternalProcess.RunAsync("/usr/bin/mosquitto_pub", [.. Connection("s1", "sensor-s1", token), "-q", "1",
            "-t", MqttTopics.Telemetry(device), "-m", """{"seq":5,"values":[1,2"""], TimeSpan.FromSeconds(30));
        output.WriteLine($"malformed: exit {pub.Exit} {pub.Out} {pub.Err}");
        var malformed = (await sub.WaitForAsync(3, TimeSpan.FromSeconds(20)))[2];
        Assert.Contains("not valid JSON", malformed.GetProperty("error").GetString());

        pub = await ExternalProcess.RunAsync("/usr/bin/mosquitto_pub", [.. Connection("s1", "sensor-s1", token), "-q", "1",
            "-t", MqttTopics.Telemetry("edge1/s2"), "-m", """{"seq":1,"values":[1,2,3,4]}"""], TimeSpan.FromSeconds(30));
        output.WriteLine($"other device: exit {pub.Exit} {pub.Out} {pub.Err}");
        Assert.Contains("Publish 1 failed: Not authorized", pub.Out + pub.Err); // mosquitto_pub names the MQTT 5 reason code

        var expired = Token("sensor-s1", device, TimeSpan.FromSeconds(-60));
        pub = await ExternalProcess.RunAsync("/usr/bin/mosquitto_pub", [.. Connection("s1", "sensor-s1", expired), "-q", "1",
            "-t", MqttTopics.Telemetry(device), "-m", """{"seq":6,"values":[1,2,3,4]}"""], TimeSpan.FromSeconds(30));
        output.WriteLine($"expired: exit {pub.Exit} {pub.Out} {pub.Err}");
        Assert.Equal(135, pub.Exit); // mosquitto_pub exits with the CONNACK reason code: NotAuthorized
        pub = await ExternalProcess.RunAsync("/usr/bin/mosquitto_pub", [.. Connection("s1", "sensor-s1", token[..^4] + "AAAA"), "-q", "1",
            "-t", MqttTopics.Telemetry(device), "-m", """{"seq":6,"values":[1,2,3,4]}"""], TimeSpan.FromSeconds(30));
        output.WriteLine($"bad signature: exit {pub.Exit} {pub.Out} {pub.Err}");
        Assert.Equal(134, pub.Exit); // BadUserNameOrPassword

        var big = Path.Combine(_dir, "big.json");
        await File.WriteAllTextAsync(big, "{\"seq\":7,\"values\":[" + string.Join(",", Enumerable.Repeat("1.0", 100_000)) + "]}");
        pub = await ExternalProcess.RunAsync("/usr/bin/mosquitto_pub", [.. Connection("s1", "sensor-s1", token), "-q", "1",
            "-t", MqttTopics.Telemetry(device), "-f", big], TimeSpan.FromSeconds(30));
        output.WriteLine($"oversized: exit {pub.Exit} {pub.Out} {pub.Err}");
        var oversized = (await sub.WaitForAsync(4, TimeSpan.FromSeconds(20)))[3];
        Assert.Contains("exceeds edgeactors.mqtt.max-payload", oversized.GetProperty("error").GetString());

        // the broker's log names each refusal
        var log = EdgeLog;
        Assert.Contains("refused publish of client 's1' on 'edgeactors/devices/edge1/s1/telemetry': telemetry payload is not valid JSON", log);
        Assert.Contains("not authorised for device 'edge1/s2'", log);
        Assert.Contains("refused connect of client 's1'", log);
        Assert.Contains("expired at", log);
        Assert.Contains("signature is invalid", log);

        // still serving: a good publish is acknowledged, and exactly the good readings were kept
        pub = await ExternalProcess.RunAsync("/usr/bin/mosquitto_pub", [.. Connection("s1", "sensor-s1", token), "-q", "1",
            "-t", MqttTopics.Telemetry(device), "-m", """{"seq":8,"values":[1,2,3,4]}"""], TimeSpan.FromSeconds(30));
        Assert.True(pub.Exit == 0, pub.Err);
        var last = (await sub.WaitForAsync(5, TimeSpan.FromSeconds(20)))[4];
        Assert.Equal(1, last.GetProperty("accepted").GetInt32());
        var state = await _client.GetDeviceStateAsync(new DeviceId(device));
        Assert.Equal(4, state.AcceptedReadings); // seq 1, 2, 3, 8 (4 was NaN, the refused ones never reached the entity)
        Assert.Equal(0, (await _client.GetDeviceStateAsync(new DeviceId("edge1/s2"))).AcceptedReadings);
    }

    [Fact]
    public async Task A_mosquitto_device_should_follow_its_twin_and_acknowledge_commands_set_while_it_was_offline()
    {
        const string device = "edge1/twin-1";
        var token = Token("twin-1", device);
        // the device's persistent session subscribes once (clean start off), then goes offline
        // MQTT 3.1.1: -c keeps the session after a disconnect (MQTT 5 would also need a session expiry)
        string[] follow = [.. Connection(device, "twin-1", token, "mqttv311"), "-c", "-q", "1", "-t", MqttTopics.TwinDelta(device), "-t", MqttTopics.Commands(device),
            "-t", MqttTopics.TwinUpdateResult(device)];
        await using (var first = new Subscriber(follow)) await first.Subscribed;

        // an app sets a desired value and sends a command while the device is away
        var twin = await _client.SetDesiredAsync(new DeviceId(device), [new TwinValue("rate", "20")]);
        Assert.Equal("20", twin.Desired.Single().Value);
        var command = await _client.SendCommandAsync(new DeviceId(device), "recalibrate", "full");

        // the device comes back: the delta (queued in its session, and retained) and the command are delivered, in
        // whichever order the broker sends its session's queue and the retained message of the new subscription
        await using var device1 = new Subscriber(follow);
        await device1.Subscribed;
        var got = await device1.WaitForAsync(m => m.Any(x => x.TryGetProperty("delta", out _)) && m.Any(x => x.TryGetProperty("name", out _)), TimeSpan.FromSeconds(20));
        output.WriteLine(string.Join("\n", got));
        var delta = got.First(m => m.TryGetProperty("delta", out _));
        Assert.Equal("20", delta.GetProperty("delta").GetProperty("rate").GetString());
        var delivered = got.First(m => m.TryGetProperty("name", out _));
        Assert.Equal(command.CommandId, delivered.GetProperty("id").GetString());

        // it reports the value (KubeEdge layout) and acknowledges the command
        var pub = await ExternalProcess.RunAsync("/usr/bin/mosquitto_pub", [.. Connection("twin-1-pub", "twin-1", token), "-q", "1", "-t", MqttTopics.TwinUpdate(device),
            "-m", """{"event_id":"e1","timestamp":0,"twin":{"rate":{"actual":{"value":"20"}}}}"""], TimeSpan.FromSeconds(30));
        Assert.True(pub.Exit == 0, pub.Err);
        pub = await ExternalProcess.RunAsync("/usr/bin/mosquitto_pub", [.. Connection("twin-1-pub", "twin-1", token), "-q", "1", "-t", MqttTopics.CommandAck(device),
            "-m", $$"""{"id":"{{command.CommandId}}","success":true,"result":"done"}"""], TimeSpan.FromSeconds(30));
        Assert.True(pub.Exit == 0, pub.Err);
        static bool IsE1(JsonElement m) => m.TryGetProperty("event_id", out var e) && e.GetString() == "e1";
        var result = (await device1.WaitForAsync(m => m.Any(IsE1), TimeSpan.FromSeconds(20))).First(IsE1);
        Assert.Equal("20", result.GetProperty("twin").GetProperty("rate").GetProperty("actual").GetProperty("value").GetString());
        var after = await _client.GetTwinAsync(new DeviceId(device));
        Assert.Empty(after.Delta());
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while ((await _client.GetCommandsAsync(new DeviceId(device))).Single().State != CommandState.Acknowledged)
        {
            Assert.True(DateTime.UtcNow < deadline, "the command was not acknowledged");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task A_paho_QoS1_session_should_store_every_reading_exactly_once_across_a_lost_PUBACK_and_a_reconnect()
    {
        const string device = "edge1/paho-1";
        const int n = 20;
        var script = Path.Combine(AppContext.BaseDirectory, "Mqtt", "paho_qos1_session.py");
        var run = await ExternalProcess.RunAsync("/usr/bin/python3", [script, "127.0.0.1", MqttPort.ToString(), Ca, device, "paho-1", Token("paho-1", device), n.ToString(), "7"],
            TimeSpan.FromSeconds(120));
        output.WriteLine(run.Out);
        output.WriteLine(run.Err);
        Assert.True(run.Exit == 0, $"paho device failed (exit {run.Exit}): {run.Out} {run.Err}");
        Assert.Contains("\"duplicates\": [7]", run.Out);

        // the entity and, after the edge's outbox drained, the datacenter's store hold each reading once
        Assert.Equal(n, (await _client.GetDeviceStateAsync(new DeviceId(device))).AcceptedReadings);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while ((await _client.GetSyncStatusAsync($"127.0.0.1:{_ports[2]}")).Backlog != 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "edge1's outbox did not drain");
            await Task.Delay(300);
        }
        await TestCluster.StopAsync(_client, _cluster, output);
        (_client, _cluster) = (null!, null!); // stopped: the store is read with no node writing to it
        using var store = new EdgeActors.Storage.SqliteDataStore(Path.Combine(_dir, "datacenter", "store.db"));
        var history = store.History(new DeviceId(device), RecordKind.Telemetry, 10_000);
        Assert.Equal(Enumerable.Range(0, n).Select(i => (long)i).ToArray(), history.Select(r => r.Sequence).ToArray());
    }

    /// <summary>Waits until the edge's log holds <paramref name="text"/> (the broker wrote what the test waits for).</summary>
    private async Task WaitForLogAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!EdgeLog.Contains(text, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"edge1's log has no '{text}'; logs in {_dir}");
            await Task.Delay(100);
        }
    }

    private async Task PublishTelemetryAsync(string clientId, string user, string token, string device, long seq)
    {
        var pub = await ExternalProcess.RunAsync("/usr/bin/mosquitto_pub", [.. Connection(clientId, user, token), "-q", "1",
            "-t", MqttTopics.Telemetry(device), "-m", $$"""{"seq":{{seq}},"values":[1,2,3,4]}"""], TimeSpan.FromSeconds(30));
        Assert.True(pub.Exit == 0, pub.Err);
    }

    /// <summary>edge1's <c>edgeactors.mqtt.session-expiry</c>: the cap of MQTT 5's expiry and MQTT 3.1.1's.</summary>
    private const int SessionExpirySeconds = 20;

    [Fact]
    public async Task A_persistent_session_should_get_what_was_published_while_away_within_its_expiry_and_be_deleted_after_it()
    {
        const string device = "edge1/exp-1";
        var token = Token("exp-client", device);
        // MQTT 5 asks for 10 minutes (capped at edge1's session-expiry); MQTT 3.1.1 cannot ask: it gets session-expiry.
        // MQTTnet itself keeps a 3.1.1 session for ever and does not cap MQTT 5's: both expire only through the broker's sweep.
        string[] Mqtt5() => [.. Connection("exp-5", "exp-client", token), "-c", "-x", "600", "-q", "1", "-t", MqttTopics.Ack(device)];
        string[] Mqtt311() => [.. Connection("exp-311", "exp-client", token, "mqttv311"), "-c", "-q", "1", "-t", MqttTopics.Ack(device)];

        await using (var v5 = new Subscriber(Mqtt5())) await v5.Subscribed;
        await using (var v311 = new Subscriber(Mqtt311())) await v311.Subscribed;
        await WaitForLogAsync($"client 'exp-5' disconnected; its session is kept for 00:00:{SessionExpirySeconds}", TimeSpan.FromSeconds(20));
        await WaitForLogAsync($"client 'exp-311' disconnected; its session is kept for 00:00:{SessionExpirySeconds}", TimeSpan.FromSeconds(20));

        // published while both are away: queued in both sessions
        await PublishTelemetryAsync("exp-pub", "exp-client", token, device, 1);

        // the MQTT 5 session comes back within its expiry: it gets the ack of seq 1
        await using var v5Again = new Subscriber(Mqtt5());
        var kept = await v5Again.WaitForAsync(1, TimeSpan.FromSeconds(20));
        Assert.Equal([1L], kept.Select(a => a.GetProperty("highestContiguous").GetInt64()).ToArray());

        // the MQTT 3.1.1 one stays away longer: deleted with its queue, it starts afresh and gets only the next ack
        await WaitForLogAsync("session of client 'exp-311' expired", TimeSpan.FromSeconds(SessionExpirySeconds + 60));
        await using var v311Again = new Subscriber(Mqtt311());
        await v311Again.Subscribed;
        await PublishTelemetryAsync("exp-pub", "exp-client", token, device, 2);
        var fresh = await v311Again.WaitForAsync(1, TimeSpan.FromSeconds(20));
        output.WriteLine(string.Join("\n", fresh));
        Assert.Equal([2L], fresh.Select(a => a.GetProperty("highestContiguous").GetInt64()).ToArray());
    }

    [Fact]
    public async Task A_persistent_session_reconnecting_with_a_narrower_token_should_no_longer_receive_the_topic_it_lost_the_right_to()
    {
        const string kept = "edge1/nr-a", lost = "edge1/nr-b";
        var wide = Token("nr-client", "edge1/nr-");
        var narrow = Token("nr-client", kept);

        // subscribed to both devices' acks under a token covering both, then away
        await using (var first = new Subscriber([.. Connection("nr-sub", "nr-client", wide), "-c", "-x", "600", "-q", "1",
                         "-t", MqttTopics.Ack(kept), "-t", MqttTopics.Ack(lost)]))
            await first.Subscribed;
        await WaitForLogAsync("client 'nr-sub' disconnected; its session is kept", TimeSpan.FromSeconds(20));

        // an ack for the device it is about to lose is queued while it is away
        await PublishTelemetryAsync("nr-pub", "nr-client", wide, lost, 1);

        // back with a token for nr-a only: the nr-b subscription is removed, and neither the queued nor a new nr-b ack is delivered
        await using var again = new Subscriber([.. Connection("nr-sub", "nr-client", narrow), "-c", "-x", "600", "-q", "1", "-t", MqttTopics.Ack(kept)]);
        await again.Subscribed;
        await WaitForLogAsync($"client 'nr-sub' reconnected without the right to its subscription '{MqttTopics.Ack(lost)}', removed", TimeSpan.FromSeconds(20));
        await PublishTelemetryAsync("nr-pub", "nr-client", wide, lost, 2);
        await PublishTelemetryAsync("nr-pub", "nr-client", wide, kept, 1);
        var got = await again.WaitForAsync(1, TimeSpan.FromSeconds(20));
        output.WriteLine(string.Join("\n", got));
        Assert.Equal([kept], got.Select(a => a.GetProperty("device").GetString()!).ToArray());
    }
}
