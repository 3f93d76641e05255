namespace EdgeActors.Messages.Serialization;

/// <summary>Wire encoding of the cluster messages (ClusterMessages.cs; part of <see cref="EdgeCodec"/>).</summary>
internal static class ClusterCodec
{
    public static readonly MessageKinds Kinds = new()
    {
        { "go", GetClusterOverview.Instance },
        { "co", WriteOverview, ReadOverview },
        { "rr", static (w, m) => w.String(m.Reason), static (ref BinReader r) => new RequestRejected(r.String()) },
    };

    private static void WriteOverview(BinWriter w, ClusterOverview o)
    {
        w.String(o.AnsweredBy);
        w.Array(o.Members, static (w, m) => { w.String(m.Address); w.Strings(m.Roles); w.String(m.Status); });
        w.Array(o.Regions, static (w, r) => { w.String(r.Address); w.Int(r.Shards); w.Int(r.Entities); });
        w.Bool(o.StatsComplete);
    }

    private static ClusterOverview ReadOverview(ref BinReader r) => new(
        r.String(),
        r.Array(3, static (ref BinReader r) => new MemberInfo(r.String(), r.Strings(), r.String())), // address, roles length, status
        r.Array(3, static (ref BinReader r) => new RegionInfo(r.String(), r.Int(), r.Int())), // address, shards, entities
        r.Bool());
}
