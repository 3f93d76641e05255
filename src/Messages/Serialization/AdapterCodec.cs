namespace EdgeActors.Messages.Serialization;

/// <summary>Wire encoding of the hardware adapter messages and of <see cref="SensorStatus"/> (part of <see cref="EdgeCodec"/>).</summary>
internal static class AdapterCodec
{
    public static readonly MessageKinds Kinds = new()
    {
        { "Ha", WriteHealth, ReadHealth },
    };

    private static void WriteHealth(BinWriter w, SensorHealth h)
    {
        w.Device(h.DeviceId); w.Byte((byte)h.Health); w.String(h.Reason); w.String(h.AdapterNode);
        w.Int(h.OfflineAfterMs); w.Int(h.ClockJumpMs); w.Int(h.RecoverAfter);
        w.VarI(h.Produced); w.VarI(h.LastSequence); w.VarI(h.Unacknowledged); w.VarI(h.Dropped); w.VarI(h.Restarts);
        WriteFaults(w, h.Faults);
    }

    private static SensorHealth ReadHealth(ref BinReader r) =>
        new(r.Device(), ReadDeviceHealth(ref r), r.String(), r.String(), r.Int(), r.Int(), r.Int(), r.VarI(), r.VarI(), r.VarI(), r.VarI(), r.VarI(),
            ReadFaults(ref r));

    /// <summary>The optional sensor part of a <see cref="DeviceState"/> (a presence flag, then the fields).</summary>
    public static void WriteStatus(BinWriter w, SensorStatus? s) =>
        w.Optional(s, static (w, s) =>
        {
            w.Byte((byte)s.Health); w.String(s.Reason); w.VarI(s.SinceMs); w.VarI(s.Degradations); w.VarI(s.Offlines); w.VarI(s.Recoveries);
            WriteFaults(w, s.Faults);
            w.String(s.AdapterNode); w.VarI(s.Produced); w.VarI(s.AdapterLastSequence); w.VarI(s.Unacknowledged); w.VarI(s.Dropped); w.VarI(s.Restarts);
        });

    public static SensorStatus? ReadStatus(ref BinReader r) =>
        r.Optional(static (ref BinReader r) => new SensorStatus(ReadDeviceHealth(ref r), r.String(), r.VarI(), r.VarI(), r.VarI(), r.VarI(),
            ReadFaults(ref r), r.String(), r.VarI(), r.VarI(), r.VarI(), r.VarI(), r.VarI()));

    private static DeviceHealth ReadDeviceHealth(ref BinReader r) => r.Enum<DeviceHealth>(b => b <= (byte)DeviceHealth.Offline);

    private static void WriteFaults(BinWriter w, FaultCount[] faults) =>
        w.Array(faults, static (w, f) => { w.Byte((byte)f.Kind); w.VarI(f.Count); });

    private static FaultCount[] ReadFaults(ref BinReader r) =>
        r.Array(2, static (ref BinReader r) => // kind byte, count varint
            new FaultCount(r.Enum<SensorFault>(b => b is >= (byte)SensorFault.Exception and <= (byte)SensorFault.Silent), r.VarI()));
}
