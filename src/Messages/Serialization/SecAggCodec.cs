namespace EdgeActors.Messages.Serialization;

/// <summary>Wire encoding of the secure-aggregation (SecAgg+) messages (part of <see cref="EdgeCodec"/>).</summary>
internal static class SecAggCodec
{
    public static readonly MessageKinds Kinds = new()
    {
        {
            "Sk", static (w, k) =>
            {
                w.String(k.ExperimentId); w.Int(k.Round); w.Int(k.Attempt); w.Strings(k.Clients); w.ByteArrays(k.CipherKeys); w.ByteArrays(k.MaskKeys);
                w.ByteArrays(k.Signatures); w.Bytes(k.Certificate);
            },
            static (ref BinReader r) => new SecAggKeys(r.String(), r.Int(), r.Int(), r.Strings(), r.ByteArrays(), r.ByteArrays(), r.ByteArrays(), r.Bytes())
        },
        {
            "Sq", static (w, q) =>
            {
                w.String(q.ExperimentId); w.Int(q.Round); w.Int(q.Attempt); w.Strings(q.Clients); w.Strings(q.Peers); w.ByteArrays(q.CipherKeys);
                w.ByteArrays(q.MaskKeys); w.ByteArrays(q.Signatures); w.ByteArrays(q.Certificates); w.Int(q.Threshold);
            },
            static (ref BinReader r) => new SecAggShareRequest(r.String(), r.Int(), r.Int(), r.Strings(), r.Strings(), r.ByteArrays(), r.ByteArrays(),
                r.ByteArrays(), r.ByteArrays(), r.Int())
        },
        {
            "Sh", static (w, s) =>
            {
                w.String(s.ExperimentId); w.Int(s.Round); w.Int(s.Attempt); w.Strings(s.From); w.Strings(s.To); w.ByteArrays(s.Ciphertexts);
            },
            static (ref BinReader r) => new SecAggShares(r.String(), r.Int(), r.Int(), r.Strings(), r.Strings(), r.ByteArrays())
        },
        {
            "Su", static (w, u) =>
            {
                w.String(u.ExperimentId); w.Int(u.Round); w.Int(u.Attempt); w.Strings(u.Clients); w.Strings(u.Survivors); w.Strings(u.From);
                w.Strings(u.To); w.ByteArrays(u.Ciphertexts);
            },
            static (ref BinReader r) => new SecAggUnmaskRequest(r.String(), r.Int(), r.Int(), r.Strings(), r.Strings(), r.Strings(), r.Strings(), r.ByteArrays())
        },
        {
            "Sr", static (w, s) =>
            {
                w.String(s.ExperimentId); w.Int(s.Round); w.Int(s.Attempt); w.Strings(s.Holders); w.Strings(s.Owners); w.Bytes(s.Secrets);
                w.Bytes(s.Xs); w.ByteArrays(s.Shares); w.Strings(s.Refused);
            },
            static (ref BinReader r) => new SecAggUnmaskShares(r.String(), r.Int(), r.Int(), r.Strings(), r.Strings(), r.Bytes(), r.Bytes(), r.ByteArrays(), r.Strings())
        },
    };
}
