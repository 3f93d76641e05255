namespace EdgeActors.Messages.Serialization;

/// <summary>Wire encoding of the device-locality messages (part of <see cref="EdgeCodec"/>; manifests start with 'L').</summary>
internal static class LocalityCodec
{
    public static readonly MessageKinds Kinds = new()
    {
        {
            "La", static (w, g) => { w.Device(g.DeviceId); w.Int(g.MaxSequences); },
            static (ref BinReader r) => new GetDeviceHistory(r.Device(), r.Int())
        },
        {
            "Lb", static (w, h) => { w.Device(h.DeviceId); WriteKind(w, h.Telemetry); WriteKind(w, h.Frames); w.String(h.Source); w.String(h.Error); },
            static (ref BinReader r) => new DeviceHistory(r.Device(), ReadKind(ref r), ReadKind(ref r), r.String(), r.String())
        },
        { "Lc", WriteGetDevices, ReadGetDevices },
        { "Ld", WriteDevices, ReadDevices },
    };

    private static void WriteGetDevices(BinWriter w, GetDevicesHistory g)
    {
        w.VarI(g.BatchId); w.Int(g.MaxSequences); w.Int(g.Devices.Length);
        foreach (var d in g.Devices) w.Device(d);
    }

    private static void WriteDevices(BinWriter w, DevicesHistory h)
    {
        w.VarI(h.BatchId); w.String(h.Source); w.String(h.Error); w.Int(h.Devices.Length);
        foreach (var d in h.Devices)
        {
            w.Device(d.DeviceId); WriteKind(w, d.Telemetry); WriteKind(w, d.Frames); w.String(d.Error);
        }
    }

    private static GetDevicesHistory ReadGetDevices(ref BinReader r)
    {
        var batch = r.VarI();
        var max = r.Int();
        var devices = new DeviceId[Count(ref r, GetDevicesHistory.MaxDevices)];
        for (var i = 0; i < devices.Length; i++) devices[i] = r.Device();
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
            var id = r.Device();
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
