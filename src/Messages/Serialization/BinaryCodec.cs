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
        System.Array.Resize(ref _buf, size);
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

    public void Device(DeviceId id) => String(id.Value);

    /// <summary>A length, then each item as <paramref name="write"/> writes it (read back by <see cref="BinReader.Array{T}"/>).</summary>
    public void Array<T>(T[] items, Action<BinWriter, T> write)
    {
        VarU((ulong)items.Length);
        foreach (var item in items) write(this, item);
    }

    /// <summary>A presence flag, then the value as <paramref name="write"/> writes it when there is one (<see cref="BinReader.Optional{T}"/>).</summary>
    public void Optional<T>(T? value, Action<BinWriter, T> write) where T : class
    {
        Bool(value is not null);
        if (value is not null) write(this, value);
    }

    /// <summary>The format version byte every top-level payload starts with (see <see cref="WireFormat"/>).</summary>
    public void Version() => Byte(WireFormat.Version);

    /// <summary>The key of an extension field: <c>field &lt;&lt; 3 | wire type</c> as a varint (see <see cref="WireFormat"/>).</summary>
    public void Tag(int field, WireType type)
    {
        if (field < 1) throw new ArgumentOutOfRangeException(nameof(field), field, "extension field numbers start at 1");
        VarU(((ulong)field << 3) | (byte)type);
    }

    /// <summary>An extension field holding a zig-zag varint.</summary>
    public void ExtVarI(int field, long value)
    {
        Tag(field, WireType.Varint);
        VarI(value);
    }

    /// <summary>An extension field holding length-prefixed bytes.</summary>
    public void ExtBytes(int field, byte[] value)
    {
        Tag(field, WireType.Len);
        Bytes(value);
    }

    /// <summary>An extension field holding a little-endian double (fixed64).</summary>
    public void ExtDouble(int field, double value)
    {
        Tag(field, WireType.Fixed64);
        Double(value);
    }

    /// <summary>An extension field holding raw little-endian floats (length-delimited, 4 bytes each).</summary>
    public void ExtFloats(int field, float[] values)
    {
        Tag(field, WireType.Len);
        var bytes = MemoryMarshal.AsBytes(values.AsSpan());
        VarU((ulong)bytes.Length);
        Ensure(bytes.Length);
        bytes.CopyTo(_buf.AsSpan(_pos));
        _pos += bytes.Length;
    }

    /// <summary>An extension field holding what <paramref name="write"/> writes (positional fields of its own), length-delimited.</summary>
    public void ExtNested(int field, Action<BinWriter> write)
    {
        var inner = new BinWriter();
        write(inner);
        ExtBytes(field, inner.ToArray());
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
    private bool _inExtensions;

    public BinReader(ReadOnlySpan<byte> data, string manifest)
    {
        _data = data;
        _pos = 0;
        _manifest = manifest;
    }

    private SerializationException Fail(string what) =>
        new($"EdgeSerializer: payload for manifest '{_manifest}' is malformed: {what}{(_inExtensions ? " in the trailing extension fields" : "")} at byte {_pos} of {_data.Length}");

    /// <summary>
    /// Reads the format version byte a top-level payload starts with and refuses versions this release cannot read.
    /// An empty payload counts as version 1 with no fields (what a field-less message like <c>StopDevice</c> was before).
    /// </summary>
    public byte Version()
    {
        if (_data.Length == 0) return WireFormat.Version;
        var v = Byte();
        if (v != WireFormat.Version)
            throw Fail($"unsupported wire format version {v} (this release reads version {WireFormat.Version})");
        return v;
    }

    /// <summary>
    /// Moves to the next extension field after a message's positional fields: false at the end of the payload. A key
    /// with field number 0 or an unknown wire type is malformed (garbage, not a field a newer release could write).
    /// </summary>
    public bool NextExtension(out int field, out WireType type)
    {
        _inExtensions = true;
        if (_pos == _data.Length)
        {
            field = 0;
            type = default;
            return false;
        }
        var key = VarU();
        var f = key >> 3;
        var t = (byte)(key & 7);
        if (f == 0 || f > int.MaxValue) throw Fail($"invalid extension field number {f}");
        if (t is not ((byte)WireType.Varint or (byte)WireType.Fixed64 or (byte)WireType.Len or (byte)WireType.Fixed32))
            throw Fail($"unknown wire type {t} of extension field {f}");
        field = (int)f;
        type = (WireType)t;
        return true;
    }

    /// <summary>Skips the value of an extension field this release does not know (written by a newer release).</summary>
    public void Skip(WireType type)
    {
        switch (type)
        {
            case WireType.Varint:
                VarU();
                break;
            case WireType.Fixed64:
                Need(8);
                _pos += 8;
                break;
            case WireType.Fixed32:
                Need(4);
                _pos += 4;
                break;
            case WireType.Len:
                var n = Length();
                Need(n);
                _pos += n;
                break;
            default:
                throw Fail($"unknown wire type {(byte)type}");
        }
    }

    /// <summary>Reads an extension field's varint value, checking the writer used the expected wire type.</summary>
    public long ExtVarI(int field, WireType type)
    {
        if (type != WireType.Varint) throw Fail($"extension field {field} has wire type {type}, expected {WireType.Varint}");
        return VarI();
    }

    /// <summary>Reads an extension field's length-prefixed bytes, checking the writer used the expected wire type.</summary>
    public byte[] ExtBytes(int field, WireType type)
    {
        if (type != WireType.Len) throw Fail($"extension field {field} has wire type {type}, expected {WireType.Len}");
        return Bytes();
    }

    /// <summary>Reads an extension field's double, checking the writer used fixed64.</summary>
    public double ExtDouble(int field, WireType type)
    {
        if (type != WireType.Fixed64) throw Fail($"extension field {field} has wire type {type}, expected {WireType.Fixed64}");
        return Double();
    }

    /// <summary>Reads an extension field of raw little-endian floats (<see cref="BinWriter.ExtFloats"/>).</summary>
    public float[] ExtFloats(int field, WireType type)
    {
        var bytes = ExtBytes(field, type);
        if (bytes.Length % 4 != 0) throw Fail($"extension field {field} holds {bytes.Length} bytes, not a whole number of floats");
        return MemoryMarshal.Cast<byte, float>(bytes.AsSpan()).ToArray();
    }

    /// <summary>A reader over the content of a length-delimited extension field written by <see cref="BinWriter.ExtNested"/>.</summary>
    public readonly BinReader Nested(byte[] content) => new(content, _manifest);

    /// <summary>
    /// End of a top-level message whose extension fields this release does not know: skips every well-formed
    /// extension field (a newer release's) and fails on anything else.
    /// </summary>
    public void EndMessage()
    {
        while (NextExtension(out _, out var type)) Skip(type);
    }

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

    /// <summary>A byte enum that must be one of <typeparamref name="T"/>'s named values.</summary>
    public T Enum<T>() where T : struct, System.Enum => Enum<T>(static b => System.Enum.IsDefined(typeof(T), b));

    public DeviceId Device() => new(String());

    /// <summary>
    /// An array written by <see cref="BinWriter.Array{T}"/> whose items each take at least <paramref name="minBytesPerItem"/>
    /// bytes (a length the rest of the payload cannot hold is refused before allocating, see <see cref="Count"/>).
    /// </summary>
    public T[] Array<T>(int minBytesPerItem, ReadFn<T> read)
    {
        var n = Count(minBytesPerItem);
        var result = n == 0 ? [] : new T[n];
        for (var i = 0; i < n; i++) result[i] = read(ref this);
        return result;
    }

    /// <summary>A value written by <see cref="BinWriter.Optional{T}"/>: null when its presence flag is 0.</summary>
    public T? Optional<T>(ReadFn<T> read) where T : class => Bool() ? read(ref this) : null;

    public void End()
    {
        if (_pos != _data.Length) throw Fail($"{_data.Length - _pos} trailing bytes");
    }
}
