namespace EdgeActors.Messages.Serialization;

/// <summary>Wire encoding of the device-locality messages (part of <see cref="EdgeSerializer"/>; manifests start with 'L').</summary>
internal static class LocalityCodec
{
    public static readonly IReadOnlyDictionary<Type, string> Manifests = new Dictionary<Type, string>
    {
        [typeof(GetDeviceHistory)] = "La",
        [typeof(DeviceHistory)] = "Lb",
    };

    public static void Write(BinWriter w, IEdgeMessage message)
    {
        switch (message)
        {
            case GetDeviceHistory g:
                w.String(g.DeviceId.Value); w.Int(g.MaxSequences);
                break;
            case DeviceHistory h:
                w.String(h.DeviceId.Value); WriteKind(w, h.Telemetry); WriteKind(w, h.Frames); w.String(h.Source); w.String(h.Error);
                break;
            default:
                throw new ArgumentException($"LocalityCodec cannot serialize {message.GetType().FullName}");
        }
    }

    /// <summary>The message for <paramref name="manifest"/>, or null when it is not one of ours.</summary>
    public static object? Read(string manifest, ref BinReader r) => manifest switch
    {
        "La" => new GetDeviceHistory(new DeviceId(r.String()), r.Int()),
        "Lb" => new DeviceHistory(new DeviceId(r.String()), ReadKind(ref r), ReadKind(ref r), r.String(), r.String()),
        _ => null,
    };

    private static void WriteKind(BinWriter w, KindHistory k)
    {
        w.VarI(k.Count); w.DeltaLongs(k.Sequences ?? []);
    }

    private static KindHistory ReadKind(ref BinReader r) => new(r.VarI(), r.DeltaLongs());
}
