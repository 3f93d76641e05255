using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Serialization;
using System.Text;

namespace EdgeActors.Messages.Serialization;

/// <summary>
/// Growable little-endian writer with LEB128 varints (zig-zag for signed values). One instance per thread is
/// reused by the serializer, so steady-state serialization allocates only the exact-size result array.
/// </summary>
internal sealed class BinWriter
{
    private byte[] _buf = new byte[4096];
    private int _pos;

    public int Length => _pos;

    public void Reset() => _pos = 0;

    public byte[] ToArray() => _buf.AsSpan(0, _pos).ToArray();

    private void Ensure(int extra)
    {
        if (_pos + extra <= _buf.Length) return;
        var size = Math.Max(_buf.Length * 2, _pos + extra);
        Array.Resize(ref _buf, size);
    }

    public void Byte(byte b)
    {
        Ensure(1);
        _buf[_pos++] = b;
    }

    public void Bool(bool b) => Byte(b ? (byte)1 : (byte)0);

    public void VarU(ulong v)
    {
        Ensure(10);
        while (v >= 0x80)
        {
            _buf[_pos++] = (byte)(v | 0x80);
            v >>= 7;
        }
        _buf[_pos++] = (byte)v;
    }

    public void VarI(long v) => VarU((ulong)((v << 1) ^ (v >> 63)));

    public void Int(int v) => VarI(v);

    public void Double(double v)
    {
        Ensure(8);
        BinaryPrimitives.WriteDoubleLittleEndian(_buf.AsSpan(_pos), v);
        _pos += 8;
    }

    public void Float(float v)
    {
        Ensure(4);
        BinaryPrimitives.WriteSingleLittleEndian(_buf.AsSpan(_pos), v);
        _pos += 4;
    }

    public void String(string? s)
    {
        if (s is null)
        {
            VarU(0);
            return;
        }
        var n = Encoding.UTF8.GetByteCount(s);
        VarU((ulong)n + 1);
        Ensure(n);
        _pos += Encoding.UTF8.GetBytes(s, _buf.AsSpan(_pos));
    }

    public void Bytes(byte[] b)
    {
        VarU((ulong)b.Length);
        Ensure(b.Length);
        b.CopyTo(_buf.AsSpan(_pos));
        _pos += b.Length;
    }

    public void Floats(float[] values)
    {
        VarU((ulong)values.Length);
        var bytes = values.Length * 4;
        Ensure(bytes);
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(_buf.AsSpan(_pos));
            _pos += bytes;
        }
        else
        {
            foreach (var v in values) Float(v);
        }
    }

    /// <summary>Delta-encoded longs: consecutive sequence numbers and timestamps take one byte each.</summary>
    public void DeltaLongs(long[] values)
    {
        VarU((ulong)values.Length);
        long prev = 0;
        foreach (var v in values)
        {
            VarI(unchecked(v - prev));
            prev = v;
        }
    }

    public void Strings(string[] values)
    {
        VarU((ulong)values.Length);
        foreach (var s in values) String(s);
    }

    public void ULongs(ulong[] values)
    {
        VarU((ulong)values.Length);
        var bytes = values.Length * 8;
        Ensure(bytes);
        for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(_buf.AsSpan(_pos + i * 8), values[i]);
        _pos += bytes;
    }

    public void Doubles(double[] values)
    {
        VarU((ulong)values.Length);
        foreach (var v in values) Double(v);
    }

    public void ByteArrays(byte[][] values)
    {
        VarU((ulong)values.Length);
        foreach (var b in values) Bytes(b);
    }

    public void Ints(int[] values)
    {
        VarU((ulong)values.Length);
        foreach (var v in values) Int(v);
    }
}

/// <summary>Reader over one payload; every read is bounds-checked and fails with <see cref="SerializationException"/>.</summary>
internal ref struct BinReader
{
    /// <summary>Upper bound on any array length in a payload; a hostile length prefix cannot force a huge allocation.</summary>
    public const int MaxElements = 16 * 1024 * 1024;

    private readonly ReadOnlySpan<byte> _data;
    private int _pos;
    private readonly string _manifest;

    public BinReader(ReadOnlySpan<byte> data, string manifest)
    {
        _data = data;
        _pos = 0;
        _manifest = manifest;
    }

    private SerializationException Fail(string what) =>
        new($"EdgeSerializer: payload for manifest '{_manifest}' is malformed: {what} at byte {_pos} of {_data.Length}");

    private void Need(int n)
    {
        if (n < 0 || _pos + n > _data.Length) throw Fail($"truncated (needed {n} more bytes)");
    }

    public byte Byte()
    {
        Need(1);
        return _data[_pos++];
    }

    public bool Bool() => Byte() switch
    {
        0 => false,
        1 => true,
        var b => throw Fail($"invalid bool {b}"),
    };

    public ulong VarU()
    {
        ulong result = 0;
        for (var shift = 0; shift < 70; shift += 7)
        {
            var b = Byte();
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw Fail("varint longer than 10 bytes");
    }

    public long VarI()
    {
        var u = VarU();
        return (long)(u >> 1) ^ -(long)(u & 1);
    }

    public int Int()
    {
        var v = VarI();
        if (v is < int.MinValue or > int.MaxValue) throw Fail($"int out of range ({v})");
        return (int)v;
    }

    public int Length()
    {
        var n = VarU();
        if (n > MaxElements) throw Fail($"length {n} exceeds the limit {MaxElements}");
        return (int)n;
    }

    /// <summary>
    /// Element count of an array whose elements each take at least <paramref name="minBytesPerElement"/> bytes:
    /// rejected before anything is allocated when the rest of the payload cannot hold that many elements.
    /// </summary>
    public int Count(int minBytesPerElement)
    {
        var n = Length();
        if ((long)n * minBytesPerElement > _data.Length - _pos)
            throw Fail($"{n} elements of at least {minBytesPerElement} bytes cannot fit in {_data.Length - _pos} bytes");
        return n;
    }

    public double Double()
    {
        Need(8);
        var v = BinaryPrimitives.ReadDoubleLittleEndian(_data[_pos..]);
        _pos += 8;
        return v;
    }

    public float Float()
    {
        Need(4);
        var v = BinaryPrimitives.ReadSingleLittleEndian(_data[_pos..]);
        _pos += 4;
        return v;
    }

    public string? NullableString()
    {
        var n = VarU();
        if (n == 0) return null;
        n -= 1;
        if (n > MaxElements) throw Fail($"string length {n} exceeds the limit");
        Need((int)n);
        string s;
        try
        {
            s = new UTF8Encoding(false, true).GetString(_data.Slice(_pos, (int)n));
        }
        catch (DecoderFallbackException)
        {
            throw Fail("invalid UTF-8 in string");
        }
        _pos += (int)n;
        return s;
    }

    public string String() => NullableString() ?? throw Fail("unexpected null string");

    public byte[] Bytes()
    {
        var n = Length();
        Need(n);
        var b = _data.Slice(_pos, n).ToArray();
        _pos += n;
        return b;
    }

    public float[] Floats()
    {
        var n = Length();
        Need(checked(n * 4));
        var result = new float[n];
        if (BitConverter.IsLittleEndian)
        {
            _data.Slice(_pos, n * 4).CopyTo(MemoryMarshal.AsBytes(result.AsSpan()));
            _pos += n * 4;
        }
        else
        {
            for (var i = 0; i < n; i++) result[i] = Float();
        }
        return result;
    }

    public long[] DeltaLongs()
    {
        var n = Length();
        if (n > _data.Length - _pos) throw Fail($"{n} varints cannot fit in {_data.Length - _pos} bytes");
        var result = new long[n];
        long prev = 0;
        for (var i = 0; i < n; i++)
        {
            prev = unchecked(prev + VarI());
            result[i] = prev;
        }
        return result;
    }

    public string[] Strings()
    {
        var n = Length();
        if (n > _data.Length - _pos) throw Fail($"{n} strings cannot fit in {_data.Length - _pos} bytes");
        var result = new string[n];
        for (var i = 0; i < n; i++) result[i] = String();
        return result;
    }

    public int[] Ints()
    {
        var n = Count(1);
        var result = new int[n];
        for (var i = 0; i < n; i++) result[i] = Int();
        return result;
    }

    public ulong[] ULongs()
    {
        var n = Length();
        Need(checked(n * 8));
        var result = new ulong[n];
        for (var i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadUInt64LittleEndian(_data[(_pos + i * 8)..]);
        _pos += n * 8;
        return result;
    }

    public double[] Doubles()
    {
        var n = Length();
        Need(checked(n * 8));
        var result = new double[n];
        for (var i = 0; i < n; i++) result[i] = Double();
        return result;
    }

    public byte[][] ByteArrays()
    {
        var n = Count(1);
        var result = new byte[n][];
        for (var i = 0; i < n; i++) result[i] = Bytes();
        return result;
    }

    public T Enum<T>(Func<byte, bool> isDefined) where T : struct, System.Enum
    {
        var b = Byte();
        if (!isDefined(b)) throw Fail($"unknown {typeof(T).Name} value {b}");
        return (T)(object)b;
    }

    public void End()
    {
        if (_pos != _data.Length) throw Fail($"{_data.Length - _pos} trailing bytes");
    }
}
