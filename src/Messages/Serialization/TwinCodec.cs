namespace EdgeActors.Messages.Serialization;

/// <summary>
/// Wire encoding of the device twin and command messages (part of <see cref="EdgeCodec"/>; manifests start with 'T').
/// Version 1 layout: positional fields in declaration order; arrays as a varint count then the items.
/// </summary>
internal static class TwinCodec
{
    public static readonly MessageKinds Kinds = new()
    {
        { "Ta", WriteTwin, ReadTwin },
        {
            "Tb", static (w, s) => { w.Device(s.DeviceId); WriteValues(w, s.Properties); },
            static (ref BinReader r) => new SetDesired(r.Device(), ReadValues(ref r))
        },
        {
            "Tc", static (w, s) => { w.Device(s.DeviceId); WriteValues(w, s.Properties); },
            static (ref BinReader r) => new ReportTwin(r.Device(), ReadValues(ref r))
        },
        { "Td", static (w, g) => w.Device(g.DeviceId), static (ref BinReader r) => new GetTwin(r.Device()) },
        {
            "Te", static (w, t) => { w.Device(t.DeviceId); WriteOptionalTwin(w, t.Twin); w.String(t.Error); },
            static (ref BinReader r) => new TwinResult(r.Device(), ReadOptionalTwin(ref r), r.String())
        },
        {
            "Tf", static (w, c) => { w.Device(c.DeviceId); w.String(c.CommandId); w.String(c.Name); w.String(c.Payload); w.VarI(c.TtlMs); },
            static (ref BinReader r) => new SendCommand(r.Device(), r.String(), r.String(), r.String(), r.VarI())
        },
        {
            "Tg", static (w, a) => { w.Device(a.DeviceId); w.String(a.CommandId); w.Bool(a.Success); w.String(a.Result); },
            static (ref BinReader r) => new AcknowledgeCommand(r.Device(), r.String(), r.Bool(), r.String())
        },
        { "Th", static (w, g) => w.Device(g.DeviceId), static (ref BinReader r) => new GetCommands(r.Device()) },
        { "Ti", WriteStatus, ReadStatus },
        {
            "Tj", static (w, d) => { w.Device(d.DeviceId); WriteStatuses(w, d.Commands); w.String(d.Error); },
            static (ref BinReader r) => new DeviceCommands(r.Device(), ReadStatuses(ref r), r.String())
        },
        {
            "Tk", static (w, a) => { w.Device(a.DeviceId); w.String(a.SubscriberPath); w.Bool(a.IsDevice); },
            static (ref BinReader r) => new AttachDevice(r.Device(), r.String(), r.Bool())
        },
        {
            "Tl", static (w, d) => { w.Device(d.DeviceId); w.String(d.SubscriberPath); },
            static (ref BinReader r) => new DetachDevice(r.Device(), r.String())
        },
        {
            "Tm", static (w, a) => { w.Device(a.DeviceId); w.String(a.Kind); w.VarI(a.Sequence); w.VarI(a.Timestamp); w.String(a.Detail); },
            static (ref BinReader r) => new DeviceAlert(r.Device(), r.String(), r.VarI(), r.VarI(), r.String())
        },
        { "Tn", static (w, l) => w.Device(l.DeviceId), static (ref BinReader r) => new LoadTwin(r.Device()) },
        {
            "To", static (w, s) => { w.Device(s.DeviceId); w.VarI(s.Token); WriteTwin(w, s.Twin); WriteStatuses(w, s.Commands); },
            static (ref BinReader r) => new SaveTwin(r.Device(), r.VarI(), ReadTwin(ref r), ReadStatuses(ref r))
        },
        {
            "Tp", static (w, s) => { w.Device(s.DeviceId); w.VarI(s.Token); WriteOptionalTwin(w, s.Twin); WriteStatuses(w, s.Commands); w.String(s.Error); },
            static (ref BinReader r) => new TwinStored(r.Device(), r.VarI(), ReadOptionalTwin(ref r), ReadStatuses(ref r), r.String())
        },
    };

    private static DeviceId Id(ref BinReader r) => new(r.String());

    private static void WriteValues(BinWriter w, TwinValue[] values)
    {
        w.VarU((ulong)values.Length);
        foreach (var v in values)
        {
            w.String(v.Name); w.String(v.Value); w.Bool(v.Remove);
        }
    }

    private static TwinValue[] ReadValues(ref BinReader r)
    {
        var n = r.Count(3); // name, value, flag: at least one byte each
        var values = n == 0 ? [] : new TwinValue[n];
        for (var i = 0; i < n; i++) values[i] = new TwinValue(r.String(), r.String(), r.Bool());
        return values;
    }

    private static void WriteProperties(BinWriter w, TwinProperty[] properties)
    {
        w.VarU((ulong)properties.Length);
        foreach (var p in properties)
        {
            w.String(p.Name); w.String(p.Value); w.VarI(p.Version); w.VarI(p.UpdatedAt);
        }
    }

    private static TwinProperty[] ReadProperties(ref BinReader r)
    {
        var n = r.Count(4);
        var properties = n == 0 ? [] : new TwinProperty[n];
        for (var i = 0; i < n; i++) properties[i] = new TwinProperty(r.String(), r.String(), r.VarI(), r.VarI());
        return properties;
    }

    internal static void WriteTwin(BinWriter w, DeviceTwin t)
    {
        w.String(t.DeviceId.Value);
        WriteProperties(w, t.Desired);
        WriteProperties(w, t.Reported);
        w.VarI(t.DesiredVersion);
        w.VarI(t.ReportedVersion);
    }

    internal static DeviceTwin ReadTwin(ref BinReader r) =>
        new(Id(ref r), ReadProperties(ref r), ReadProperties(ref r), r.VarI(), r.VarI());

    private static void WriteOptionalTwin(BinWriter w, DeviceTwin? t)
    {
        w.Bool(t is not null);
        if (t is not null) WriteTwin(w, t);
    }

    private static DeviceTwin? ReadOptionalTwin(ref BinReader r) => r.Bool() ? ReadTwin(ref r) : null;

    private static void WriteStatus(BinWriter w, CommandStatus s)
    {
        w.String(s.DeviceId.Value); w.String(s.CommandId); w.String(s.Name); w.String(s.Payload); w.Byte((byte)s.State);
        w.VarI(s.CreatedAt); w.VarI(s.ExpiresAt); w.VarI(s.UpdatedAt); w.String(s.Result); w.String(s.Error);
    }

    private static CommandStatus ReadStatus(ref BinReader r) =>
        new(Id(ref r), r.String(), r.String(), r.String(), r.Enum<CommandState>(b => b <= (byte)CommandState.Failed),
            r.VarI(), r.VarI(), r.VarI(), r.String(), r.String());

    private static void WriteStatuses(BinWriter w, CommandStatus[] statuses)
    {
        w.VarU((ulong)statuses.Length);
        foreach (var s in statuses) WriteStatus(w, s);
    }

    private static CommandStatus[] ReadStatuses(ref BinReader r)
    {
        var n = r.Count(10); // ten fields of at least one byte each
        var statuses = n == 0 ? [] : new CommandStatus[n];
        for (var i = 0; i < n; i++) statuses[i] = ReadStatus(ref r);
        return statuses;
    }
}
