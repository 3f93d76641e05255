namespace EdgeActors.Messages.Serialization;

/// <summary>Wire encoding of the device-locality messages (part of <see cref="EdgeCodec"/>; manifests start with 'L').</summary>
internal static class LocalityCodec
{
    public static readonly IReadOnlyDictionary<Type, string> Manifests = new Dictionary<Type, string>
    {
        [typeof(GetDeviceHistory)] = "La",
        [typeof(DeviceHistory)] = "Lb",
        [typeof(GetDevicesHistory)] = "Lc",
        [typeof(DevicesHistory)] = "Ld",
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
            case GetDevicesHistory g:
                w.VarI(g.BatchId); w.Int(g.MaxSequences); w.Int(g.Devices.Length);
                foreach (var d in g.Devices) w.String(d.Value);
                break;
            case DevicesHistory h:
                w.VarI(h.BatchId); w.String(h.Source); w.String(h.Error); w.Int(h.Devices.Length);
                foreach (var d in h.Devices)
                {
                    w.String(d.DeviceId.Value); WriteKind(w, d.Telemetry); WriteKind(w, d.Frames); w.String(d.Error);
                }
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
        "Lc" => ReadGetDevices(ref r),
        "Ld" => ReadDevices(ref r),
        _ => null,
    };

    private static GetDevicesHistory ReadGetDevices(ref BinReader r)
    {
        var batch = r.VarI();
        var max = r.Int();
        var devices = new DeviceId[Count(ref r, GetDevicesHistory.MaxDevices)];
        for (var i = 0; i < devices.Length; i++) devices[i] = new DeviceId(r.String());
        return new GetDevicesHistory(batch, devices, max);
    }

    private static DevicesHistory ReadDevices(ref BinReader r)
    {
        var batch = r.VarI();
        var source = r.String();
        var error = r.String();
        var devices = new DeviceHistory[Count(ref r, GetDevicesHistory.MaxDevices)];
        for (var i = 0; i < devices.Length; i++)
        {
            var id = new DeviceId(r.String());
            var telemetry = ReadKind(ref r);
            var frames = ReadKind(ref r);
            devices[i] = new DeviceHistory(id, telemetry, frames, source, r.String());
        }
        return new DevicesHistory(batch, devices, source, error);
    }

    private static int Count(ref BinReader r, int max)
    {
        var n = r.Int();
        if (n < 0 || n > max) throw new System.Runtime.Serialization.SerializationException($"device count {n} is not in 0..{max}");
        return n;
    }

    private static void WriteKind(BinWriter w, KindHistory k)
    {
        w.VarI(k.Count); w.DeltaLongs(k.Sequences ?? []);
    }

    private static KindHistory ReadKind(ref BinReader r) => new(r.VarI(), r.DeltaLongs());
}
