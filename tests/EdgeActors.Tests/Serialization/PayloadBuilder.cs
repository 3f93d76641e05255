using System.Text;

namespace EdgeActors.Tests.Serialization;

/// <summary>
/// Hand-assembles wire payloads (LEB128 varints, zig-zag for signed values, strings as length+1 then UTF-8) so the
/// malformed-input tests can craft exactly the hostile bytes they need, independently of the serializer's writer.
/// </summary>
internal sealed class PayloadBuilder
{
    private readonly List<byte> _bytes = [];

    public PayloadBuilder VarU(ulong v)
    {
        while (v >= 0x80)
        {
            _bytes.Add((byte)(v | 0x80));
            v >>= 7;
        }
        _bytes.Add((byte)v);
        return this;
    }

    public PayloadBuilder VarI(long v) => VarU((ulong)((v << 1) ^ (v >> 63)));

    public PayloadBuilder Byte(byte b)
    {
        _bytes.Add(b);
        return this;
    }

    public PayloadBuilder Raw(params byte[] b)
    {
        _bytes.AddRange(b);
        return this;
    }

    public PayloadBuilder String(string s)
    {
        var utf8 = Encoding.UTF8.GetBytes(s);
        VarU((ulong)utf8.Length + 1);
        _bytes.AddRange(utf8);
        return this;
    }

    public byte[] ToArray() => _bytes.ToArray();
}
