namespace EdgeActors.Messages.Serialization;

/// <summary>Wire encoding of the hardware adapter messages and of <see cref="SensorStatus"/> (part of <see cref="EdgeCodec"/>).</summary>
internal static class AdapterCodec
{
    public static readonly IReadOnlyDictionary<Type, string> Manifests = new Dictionary<Type, string>
    {
        [typeof(SensorHealth)] = "Ha",
    };

    public static void Write(BinWriter w, IEdgeMessage message)
    {
        switch (message)
        {
            case SensorHealth h:
                w.String(h.DeviceId.Value);
                w.Byte((byte)h.Health);
                w.String(h.Reason);
                w.String(h.AdapterNode);
                w.Int(h.OfflineAfterMs);
                w.Int(h.ClockJumpMs);
                w.Int(h.RecoverAfter);
                w.VarI(h.Produced);
                w.VarI(h.LastSequence);
                w.VarI(h.Unacknowledged);
                w.VarI(h.Dropped);
                w.VarI(h.Restarts);
                WriteFaults(w, h.Faults);
                break;
            default:
                throw new ArgumentException($"AdapterCodec cannot serialize {message.GetType().FullName}");
        }
    }

    public static object? Read(string manifest, ref BinReader r) => manifest switch
    {
        "Ha" => new SensorHealth(new DeviceId(r.String()), ReadHealth(ref r), r.String(), r.String(), r.Int(), r.Int(), r.Int(),
            r.VarI(), r.VarI(), r.VarI(), r.VarI(), r.VarI(), ReadFaults(ref r)),
        _ => null,
    };

    /// <summary>The optional sensor part of a <see cref="DeviceState"/> (a presence flag, then the fields).</summary>
    public static void WriteStatus(BinWriter w, SensorStatus? s)
    {
        w.Bool(s is not null);
        if (s is null) return;
        w.Byte((byte)s.Health);
        w.String(s.Reason);
        w.VarI(s.SinceMs);
        w.VarI(s.Degradations);
        w.VarI(s.Offlines);
        w.VarI(s.Recoveries);
        WriteFaults(w, s.Faults);
        w.String(s.AdapterNode);
        w.VarI(s.Produced);
        w.VarI(s.AdapterLastSequence);
        w.VarI(s.Unacknowledged);
        w.VarI(s.Dropped);
        w.VarI(s.Restarts);
    }

    public static SensorStatus? ReadStatus(ref BinReader r) =>
        !r.Bool()
            ? null
            : new SensorStatus(ReadHealth(ref r), r.String(), r.VarI(), r.VarI(), r.VarI(), r.VarI(), ReadFaults(ref r), r.String(),
                r.VarI(), r.VarI(), r.VarI(), r.VarI(), r.VarI());

    private static DeviceHealth ReadHealth(ref BinReader r) => r.Enum<DeviceHealth>(b => b <= (byte)DeviceHealth.Offline);

    private static void WriteFaults(BinWriter w, FaultCount[] faults)
    {
        w.VarU((ulong)faults.Length);
        foreach (var f in faults)
        {
            w.Byte((byte)f.Kind);
            w.VarI(f.Count);
        }
    }

    private static FaultCount[] ReadFaults(ref BinReader r)
    {
        var n = r.Count(2); // kind byte, count varint
        var faults = n == 0 ? [] : new FaultCount[n];
        for (var i = 0; i < n; i++)
            faults[i] = new FaultCount(r.Enum<SensorFault>(b => b is >= (byte)SensorFault.Exception and <= (byte)SensorFault.Silent), r.VarI());
        return faults;
    }
}
