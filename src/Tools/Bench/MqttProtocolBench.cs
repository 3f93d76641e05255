using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using EdgeActors.Client;
using EdgeActors.Messages;
using EdgeActors.Mqtt;
using EdgeActors.Nodes.Hosting;
using MQTTnet;
using MQTTnet.Protocol;

namespace EdgeActors.Tools.Bench;

/// <summary>
/// The MQTT part of <c>bench protocols</c>, in one run on this machine: (a) Debian's Mosquitto broker relaying QoS 1
/// publishes from N publishers to subscribers (the anchor: a bare broker on this hardware), (a2) the same relay through a bare
/// MQTTnet server in this process (the library our edge embeds, before any work of ours), (b) our edge's broker
/// ingesting the same publishes (each a JSON batch of readings of one device) with durable acks (PUBACK after the
/// outbox write; the answer read back from the ack topic), (c) the same batches through the client library. Closed
/// loop: each publisher/device has one publish in flight (as an MQTT device with QoS 1 and receive maximum 1 has).
/// Plain TCP for all three (the local cluster runs --insecure) so the comparison is of the brokers, not of TLS.
/// </summary>
public static class MqttProtocolBench
{
    public sealed record Options(int Publishers = 20, int Batch = 10, int Channels = 4, double Seconds = 8, int BasePort = 4900);

    public sealed record Stage(string Name, long Messages, long Readings, double Seconds, double P50Ms, double P99Ms)
    {
        public double MessagesPerSecond => Messages / Seconds;
        public double ReadingsPerSecond => Readings / Seconds;

        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"{Name,-28} {MessagesPerSecond,10:N0} msgs/s {ReadingsPerSecond,10:N0} readings/s  p50 {P50Ms:0.00} ms  p99 {P99Ms:0.00} ms");
    }

    public sealed record Result(Stage Mosquitto, Stage Mqttnet, Stage Ours, Stage Client)
    {
        /// <summary>The bare MQTTnet broker against Mosquitto: the bound the embedded library sets before any work of ours.</summary>
        public double MqttnetRatio => Mqttnet.MessagesPerSecond / Math.Max(1e-9, Mosquitto.MessagesPerSecond);

        public double Ratio => Ours.MessagesPerSecond / Math.Max(1e-9, Mosquitto.MessagesPerSecond);
        public double ClientRatio => Ours.ReadingsPerSecond / Math.Max(1e-9, Client.ReadingsPerSecond);

        public string ResultLine => string.Create(CultureInfo.InvariantCulture,
            $"RESULT mqtt mosquitto_per_s={Mosquitto.MessagesPerSecond:0} ours_per_s={Ours.MessagesPerSecond:0} ratio={Ratio:0.00} client_per_s={Client.ReadingsPerSecond:0} client_ratio={ClientRatio:0.00} mqttnet_per_s={Mqttnet.MessagesPerSecond:0} mqttnet_ratio={MqttnetRatio:0.00}");
    }

    public static async Task<Result> RunAsync(Options o, Action<string> log)
    {
        var payload = MqttDeviceClient.TelemetryJson(Batch(new DeviceId("bench"), 1, o));
        log($"bench protocols (mqtt): {o.Publishers} publishers, QoS 1, {o.Batch} readings x {o.Channels} channels per publish ({payload.Length} bytes JSON), {o.Seconds:0}s per stage; {Environment.ProcessorCount} cores");
        var mosquitto = await MosquittoAsync(o, payload, log);
        log("  " + mosquitto);
        var mqttnet = await MqttnetAsync(o, payload, log);
        log("  " + mqttnet);
        Stage ours, client;
        var dir = Path.Combine(Path.GetTempPath(), "edgeactors-bench-protocols");
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        var layout = new List<NodeSpec>
        {
            new("seed", "seed", o.BasePort),
            new("datacenter", "datacenter", o.BasePort + 1),
            new NodeSpec("edge1", ["edge"], o.BasePort + 2, ["--set", "akka.loglevel = WARNING"]) { MqttPort = o.BasePort + 3 },
        };
        await using (var cluster = new LocalCluster(layout, dir, secure: false))
        {
            cluster.StartAll();
            await using var edgeClient = EdgeClient.Connect(new EdgeClientOptions { Contacts = [layout[2].HostPort] });
            if (await ClusterProbe.WaitForMembersAsync(edgeClient, cluster, layout.Count, TimeSpan.FromSeconds(90)) is null)
                throw new InvalidOperationException("bench protocols: the local cluster did not form; logs in " + dir);
            var endpoint = MqttEndpoint.Parse(cluster.MqttEndpoint("edge1")!, null, "bench", "");
            ours = await OursAsync(o, endpoint);
            log("  " + ours);
            client = await ClientAsync(o, edgeClient);
            log("  " + client);
            await cluster.StopAllAsync(TimeSpan.FromSeconds(20));
        }
        return new Result(mosquitto, mqttnet, ours, client);
    }

    private static TelemetryBatch Batch(DeviceId id, long firstSeq, Options o)
    {
        var seqs = Enumerable.Range(0, o.Batch).Select(i => firstSeq + i).ToArray();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        return new TelemetryBatch(id, o.Channels, seqs, seqs.Select(s => now + s).ToArray(),
            Enumerable.Range(0, o.Batch * o.Channels).Select(i => 20f + (i % 7) * 0.1f).ToArray());
    }

    /// <summary>Runs <paramref name="publishers"/> closed loops for the stage's time: messages done and per-message latencies.</summary>
    private static async Task<Stage> ClosedLoopAsync(string name, Options o, int readingsPerMessage, Func<int, long, Task> one)
    {
        var latencies = new List<double>[o.Publishers];
        var clock = Stopwatch.StartNew();
        var end = TimeSpan.FromSeconds(o.Seconds);
        var tasks = Enumerable.Range(0, o.Publishers).Select(async p =>
        {
            var mine = latencies[p] = new List<double>();
            long n = 0;
            while (clock.Elapsed < end)
            {
                var t0 = Stopwatch.GetTimestamp();
                await one(p, n++);
                mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
        }).ToList();
        await Task.WhenAll(tasks);
        var seconds = clock.Elapsed.TotalSeconds;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return new Stage(name, all.Length, (long)all.Length * readingsPerMessage, seconds, Percentile(all, 0.50), Percentile(all, 0.99));
    }

    private static double Percentile(double[] sorted, double q) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];

    // ------------------------------------------------------------------ (a) Mosquitto relaying to subscribers

    private static async Task<Stage> MosquittoAsync(Options o, byte[] payload, Action<string> log)
    {
        const string broker = "/usr/sbin/mosquitto";
        if (!File.Exists(broker)) throw new InvalidOperationException($"{broker} is missing: apt-get install mosquitto (test.sh and .ci/run install it)");
        var port = o.BasePort + 50;
        var conf = Path.Combine(Path.GetTempPath(), $"edgeactors-bench-mosquitto-{port}.conf");
        await File.WriteAllTextAsync(conf, $"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 1000\nmax_queued_messages 100000\n");
        using var process = Process.Start(new ProcessStartInfo(broker, ["-c", conf]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        try
        {
            return await RelayAsync("(a) mosquitto relay", "Mosquitto", port, o, payload, log);
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync();
            File.Delete(conf);
        }
    }

    // ------------------------------------------------------------------ (a2) a bare MQTTnet broker relaying (the library our edge embeds)

    /// <summary>
    /// The same relay through an MQTTnet 5 server in this process with default options and no interceptor: what the broker
    /// library our edge embeds does on this machine before any work of ours (parsing, entity, durable write, ack topic).
    /// </summary>
    private static async Task<Stage> MqttnetAsync(Options o, byte[] payload, Action<string> log)
    {
        var port = o.BasePort + 51;
        var factory = new MQTTnet.Server.MqttServerFactory();
        var options = factory.CreateServerOptionsBuilder().WithDefaultEndpoint().WithDefaultEndpointPort(port)
            .WithDefaultEndpointBoundIPAddress(System.Net.IPAddress.Loopback).WithMaxPendingMessagesPerClient(100_000).Build();
        using var server = factory.CreateMqttServer(options);
        await server.StartAsync();
        try
        {
            return await RelayAsync("(a2) MQTTnet relay", "MQTTnet", port, o, payload, log);
        }
        finally
        {
            await server.StopAsync(new MQTTnet.Server.MqttServerStopOptions());
        }
    }

    /// <summary>
    /// N publishers (one QoS 1 publish in flight each) to subscribers that split the publishers' topics between them (one
    /// subscriber client, not the broker, was the bound on this machine); counts what reached the subscribers.
    /// </summary>
    private static async Task<Stage> RelayAsync(string name, string brokerName, int port, Options o, byte[] payload, Action<string> log)
    {
        var factory = new MqttClientFactory();
        var subscribers = new IMqttClient[Math.Max(1, o.Publishers / 5)];
        long received = 0;
        for (var i = 0; i < subscribers.Length; i++)
        {
            subscribers[i] = factory.CreateMqttClient();
            subscribers[i].ApplicationMessageReceivedAsync += _ =>
            {
                Interlocked.Increment(ref received);
                return Task.CompletedTask;
            };
            await ConnectRetryingAsync(subscribers[i], port, $"bench-subscriber-{i}");
            for (var p = i; p < o.Publishers; p += subscribers.Length)
                await subscribers[i].SubscribeAsync($"bench/p{p}", MqttQualityOfServiceLevel.AtLeastOnce);
        }
        var publishers = new IMqttClient[o.Publishers];
        for (var i = 0; i < publishers.Length; i++)
        {
            publishers[i] = factory.CreateMqttClient();
            await ConnectRetryingAsync(publishers[i], port, $"bench-publisher-{i}");
        }
        var stage = await ClosedLoopAsync(name, o, o.Batch, async (p, _) =>
        {
            var m = new MqttApplicationMessageBuilder().WithTopic($"bench/p{p}").WithPayload(payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
            await publishers[p].PublishAsync(m);
        });
        // the relay counts what reached the subscribers (give the tail a moment)
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (Interlocked.Read(ref received) < stage.Messages && DateTime.UtcNow < deadline) await Task.Delay(20);
        foreach (var c in publishers.Concat(subscribers))
        {
            await c.DisconnectAsync();
            c.Dispose();
        }
        // never more than was published in the stage: when that is well below what the broker PUBACKed, the figure
        // measures the subscribing clients on this machine, not the broker
        var relayed = Math.Min(Interlocked.Read(ref received), stage.Messages);
        log(string.Create(CultureInfo.InvariantCulture,
            $"  {name.Split(' ')[0]} publishers had {stage.Messages:N0} QoS 1 publishes PUBACKed by {brokerName} in {stage.Seconds:0.0} s ({stage.Messages / stage.Seconds:N0} msgs/s); {subscribers.Length} subscribers received {relayed:N0}"));
        return stage with { Messages = relayed, Readings = relayed * o.Batch };
    }

    private static async Task ConnectRetryingAsync(IMqttClient client, int port, string id)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId(id)
                    .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500).Build());
                return;
            }
            catch (Exception) when (attempt < 50)
            {
                await Task.Delay(100); // the broker is still starting
            }
        }
    }

    // ------------------------------------------------------------------ (b) our edge's broker, durable acks

    private static async Task<Stage> OursAsync(Options o, MqttEndpoint endpoint)
    {
        var devices = Enumerable.Range(0, o.Publishers).Select(i => new MqttDeviceClient(endpoint, $"mqtt-bench-{i:D4}")).ToArray();
        var next = Enumerable.Repeat(1L, o.Publishers).ToArray();
        try
        {
            // first contact (entity start, restore) outside the measurement
            await Task.WhenAll(devices.Select((d, i) => Send(d, i)));
            return await ClosedLoopAsync("(b) ours: edge broker", o, o.Batch, async (p, _) => await Send(devices[p], p));
        }
        finally
        {
            foreach (var d in devices) await d.DisposeAsync();
        }

        async Task Send(MqttDeviceClient d, int i)
        {
            var batch = Batch(new DeviceId($"mqtt-bench-{i:D4}"), next[i], o);
            next[i] += o.Batch;
            var ack = (await d.SendAsync(batch)).Value;
            if (ack.Accepted != o.Batch || ack.Level != AckLevel.DurableOnEdge)
                throw new InvalidOperationException($"bench protocols: {ack.Accepted} of {o.Batch} readings accepted at {ack.Level}: {string.Join("; ", ack.Rejected.Take(3))}");
        }
    }

    // ------------------------------------------------------------------ (c) the client library

    private static async Task<Stage> ClientAsync(Options o, EdgeClient client)
    {
        var next = Enumerable.Repeat(1L, o.Publishers).ToArray();
        await Task.WhenAll(Enumerable.Range(0, o.Publishers).Select(Send));
        return await ClosedLoopAsync("(c) client library", o, o.Batch, async (p, _) => await Send(p));

        async Task Send(int i)
        {
            var batch = Batch(new DeviceId($"client-bench-{i:D4}"), next[i], o);
            next[i] += o.Batch;
            var ack = (await client.SendTelemetryAsync(batch)).Value;
            if (ack.Accepted != o.Batch) throw new InvalidOperationException($"bench protocols: client library: {ack.Accepted} of {o.Batch} accepted");
        }
    }
}
