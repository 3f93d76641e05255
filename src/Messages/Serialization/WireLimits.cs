using System.Runtime.Serialization;

namespace EdgeActors.Messages.Serialization;

/// <summary>
/// The largest payload accepted per message kind (manifest), checked by <see cref="EdgeCodec.FromBinary"/> before
/// anything is decoded. Every limit is at most <see cref="MaxFrameBytes"/> (= <c>akka.remote.dot-netty.tcp.maximum-frame-size</c>,
/// which Akka enforces on the whole frame first) and at least what the count limits allow (e.g. a telemetry batch of
/// <c>edgeactors.ingestion.max-batch-readings</c> readings of <c>max-channels</c> channels). A kind missing here falls back
/// to <see cref="MaxFrameBytes"/>, and the unit tests fail until it gets its own limit.
/// </summary>
public static class WireLimits
{
    public const int KiB = 1024;
    public const int MiB = 1024 * KiB;

    /// <summary>akka.remote.dot-netty.tcp.maximum-frame-size of the nodes and of the client library.</summary>
    public const int MaxFrameBytes = 4 * MiB;

    /// <summary>A request that carries only ids and names (device id at most 128 characters, a node address).</summary>
    public const int Request = 4 * KiB;

    /// <summary>A reply or command with a few strings (reasons, model metadata).</summary>
    public const int Small = 64 * KiB;

    /// <summary>Status reports listing members, models, sinks or edges.</summary>
    public const int Status = 1 * MiB;

    /// <summary>Bulk data: readings, model files, sync batches, model vectors (the whole frame).</summary>
    public const int Bulk = MaxFrameBytes;

    public static IReadOnlyDictionary<string, int> PerManifest { get; } = new Dictionary<string, int>
    {
        // device traffic
        ["tb"] = 3 * MiB,          // 10,000 readings x 64 channels of floats + sequences + timestamps = about 2.8 MB
        ["cf"] = Small,            // one 28x28 grey frame (784 bytes) with room for other small sizes
        ["sd"] = Request,
        ["ia"] = 2 * MiB,          // up to one rejection (with detail) per reading of a full batch
        ["gs"] = Request,
        ["ds"] = Small,
        ["go"] = Request,
        ["co"] = Status,
        ["rr"] = Small,
        // inference and models
        ["if"] = Bulk,
        ["ir"] = Bulk,
        ["ij"] = Small,
        ["pm"] = Bulk,             // an ONNX file published through the client: at most one frame
        ["mp"] = Small,
        ["mr"] = Small,
        ["lm"] = Request,
        ["ml"] = Status,
        ["sp"] = Request,
        ["rb"] = Request,
        ["pc"] = Small,
        ["ma"] = Small,
        ["ga"] = Request,
        ["am"] = Status,
        ["fc"] = Request,
        ["mc"] = 256 * KiB + 4 * KiB, // edgeactors.registry.chunk-bytes is at most 256KiB, plus name and offsets
        ["gi"] = Request,
        ["is"] = Status,
        // sync
        ["sb"] = Bulk,
        ["sa"] = Request,
        ["sj"] = Small,
        ["gy"] = Request,
        ["ss"] = Status,
        ["gt"] = Request,
        ["st"] = Status,
        // federated learning
        ["tf"] = Bulk,
        ["tk"] = Small,
        ["xs"] = Small,
        ["xa"] = Request,
        ["xr"] = Small,
        ["xg"] = Request,
        ["xt"] = Status,
        ["fg"] = Request,
        ["ft"] = Status,
        ["ph"] = Status,
        ["tr"] = Bulk,
        ["cu"] = Bulk,
        ["cm"] = Bulk,
        ["cx"] = Small,
        ["kq"] = Small,
        ["ky"] = Status,
        ["rq"] = Small,
        ["rv"] = Bulk,
        // secure aggregation (SecAgg+): per client two keys (91 bytes each), a signature and a node certificate (about 0.5 KB),
        // per pair of clients one 92-byte ciphertext; 1 MiB holds over a thousand clients per round
        ["Sk"] = Status,
        ["Sq"] = Status,
        ["Sh"] = Status,
        ["Su"] = Status,
        ["Sr"] = Status,
        ["km"] = Small,
        ["gb"] = Small,
        ["jg"] = Request,
        ["jt"] = Status,
        ["js"] = Bulk,
        ["jr"] = Bulk,
        ["La"] = Request,
        ["Lb"] = Status, // up to two kinds' latest stored sequences (varint deltas)
        ["Lc"] = 160 * KiB, // up to 1,024 device ids (128 characters each at most)
        ["Ld"] = Bulk,   // part of a bulk answer: the sink splits it to stay well under a frame
        ["Ha"] = Small,  // sensor health report: a reason, a node address and a few counters
        // device twins and commands (TwinCodec)
        ["Ta"] = Status,  // a whole twin: both sides' properties (bounded by edgeactors.twins limits)
        ["Tb"] = Status,
        ["Tc"] = Status,
        ["Td"] = Request,
        ["Te"] = Status,
        ["Tf"] = Small,   // a command with its payload
        ["Tg"] = Small,
        ["Th"] = Request,
        ["Ti"] = Small,
        ["Tj"] = Bulk,    // the recent commands of a device (bounded by edgeactors.twins.max-commands)
        ["Tk"] = Request,
        ["Tl"] = Request,
        ["Tm"] = Small,
        ["Tn"] = Request,
        ["To"] = Bulk,    // twin + changed commands
        ["Tp"] = Bulk,    // twin + all kept commands
        // the client library's ingest stream: many devices' batches and their acks in one message (each item also
        // checked against its own kind's count limits when decoded)
        [IngestStreamCodec.RequestsManifest] = Bulk,
        [IngestStreamCodec.RepliesManifest] = Bulk,
        // security: the envelope's request is checked against its own kind's limit as well
        [SecurityCodec.AuthenticatedManifest] = Bulk,
    };

    public static int MaxPayloadBytes(string manifest) => PerManifest.TryGetValue(manifest, out var max) ? max : MaxFrameBytes;

    /// <summary>Throws when a payload of this kind is larger than its limit (names the kind, the size and the limit).</summary>
    public static void Check(string manifest, int length)
    {
        var max = MaxPayloadBytes(manifest);
        if (length > max)
            throw new SerializationException(
                $"EdgeSerializer: payload for manifest '{manifest}' ({KindName(manifest)}) is {length} bytes; the limit for this kind is {max} bytes");
    }

    public static string KindName(string manifest) =>
        EdgeCodec.Manifests.FirstOrDefault(kv => kv.Value == manifest).Key?.Name ?? "unknown kind";
}
