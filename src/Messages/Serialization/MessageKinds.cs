using System.Collections;

namespace EdgeActors.Messages.Serialization;

/// <summary>Reads one message's fields (after the version byte), or one nested item, from a payload.</summary>
internal delegate T ReadFn<out T>(ref BinReader r);

/// <summary>
/// One message kind on the wire: its type, its two-letter manifest, and how its fields are written and read (after the
/// version byte that <see cref="EdgeCodec"/> writes and checks; extension fields included, see <see cref="WireFormat"/>).
/// </summary>
internal sealed record MessageKind(Type Type, string Manifest, Action<BinWriter, object> Write, ReadFn<object> Read);

/// <summary>
/// The message kinds of one feature codec (<see cref="DeviceCodec"/>, <see cref="InferenceCodec"/>, ...), each given
/// once with its manifest, writer and reader; <see cref="EdgeCodec"/> dispatches on them by type and by manifest.
/// </summary>
internal sealed class MessageKinds : IEnumerable<MessageKind>
{
    private readonly List<MessageKind> _kinds = [];

    public void Add<T>(string manifest, Action<BinWriter, T> write, ReadFn<T> read) where T : class, IEdgeMessage =>
        _kinds.Add(new MessageKind(typeof(T), manifest, (w, m) => write(w, (T)m), read));

    /// <summary>A message without fields (an empty payload reads as version 1 without fields, too).</summary>
    public void Add<T>(string manifest, T instance) where T : class, IEdgeMessage =>
        Add(manifest, static (_, _) => { }, (ref BinReader _) => instance);

    /// <summary>A query that names a node, or none (the empty string) for the one that receives it.</summary>
    public void Add<T>(string manifest, T anyNode, Func<string, T> forNode) where T : class, INodeQuery =>
        Add(manifest, static (w, q) => w.String(q.Node), (ref BinReader r) => r.String() is { Length: > 0 } node ? forNode(node) : anyNode);

    public IEnumerator<MessageKind> GetEnumerator() => _kinds.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
