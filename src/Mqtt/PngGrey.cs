using System.Buffers.Binary;
using System.IO.Compression;

namespace EdgeActors.Mqtt;

/// <summary>
/// A small PNG decoder for what cameras send here: 8-bit greyscale (colour type 0), also 8-bit RGB/RGBA and grey+alpha
/// (converted to grey by luminance), not interlaced. Chunks are parsed by hand and IDAT inflated with
/// System.IO.Compression (zlib); CRCs are not checked (the transport already did). Anything else is refused with why.
/// </summary>
public static class PngGrey
{
    private static ReadOnlySpan<byte> Signature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Largest width or height decoded (frames are 28×28; this only bounds the memory a bad header can ask for).</summary>
    public const int MaxSide = 4096;

    public static bool IsPng(ReadOnlySpan<byte> data) => data.Length >= 8 && data[..8].SequenceEqual(Signature);

    /// <summary>The image as grey bytes, row-major, or why it cannot be decoded.</summary>
    public static (byte[]? Pixels, int Width, int Height, string? Error) Decode(ReadOnlySpan<byte> data)
    {
        if (!IsPng(data)) return Fail("not a PNG (signature missing)");
        var pos = 8;
        int width = 0, height = 0, colourType = -1, channels = 0;
        using var idat = new MemoryStream();
        var ended = false;
        while (pos + 8 <= data.Length)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(data[pos..]);
            var type = System.Text.Encoding.ASCII.GetString(data.Slice(pos + 4, 4));
            if (length < 0 || pos + 12L + length > data.Length) return Fail($"PNG chunk '{type}' is truncated");
            var body = data.Slice(pos + 8, length);
            pos += 12 + length;
            switch (type)
            {
                case "IHDR":
                    if (length < 13) return Fail("PNG IHDR is too short");
                    width = BinaryPrimitives.ReadInt32BigEndian(body);
                    height = BinaryPrimitives.ReadInt32BigEndian(body[4..]);
                    var depth = body[8];
                    colourType = body[9];
                    if (body[12] != 0) return Fail("interlaced PNG is not supported; send it non-interlaced");
                    if (depth != 8) return Fail($"PNG bit depth {depth} is not supported; send 8-bit greyscale");
                    channels = colourType switch { 0 => 1, 4 => 2, 2 => 3, 6 => 4, _ => 0 };
                    if (channels == 0) return Fail($"PNG colour type {colourType} is not supported; send 8-bit greyscale");
                    if (width is < 1 or > MaxSide || height is < 1 or > MaxSide) return Fail($"PNG size {width}x{height} is out of range");
                    break;
                case "IDAT":
                    idat.Write(body);
                    break;
                case "IEND":
                    ended = true;
                    break;
            }
            if (ended) break;
        }
        if (channels == 0) return Fail("PNG has no IHDR chunk");
        if (idat.Length == 0) return Fail("PNG has no image data (IDAT)");
        var stride = width * channels;
        var raw = new byte[(stride + 1) * height];
        try
        {
            idat.Position = 0;
            using var z = new ZLibStream(idat, CompressionMode.Decompress);
            var read = 0;
            while (read < raw.Length)
            {
                var n = z.Read(raw, read, raw.Length - read);
                if (n == 0) break;
                read += n;
            }
            if (read < raw.Length) return Fail($"PNG image data is short: {read} of {raw.Length} bytes");
        }
        catch (InvalidDataException ex)
        {
            return Fail($"PNG image data is not valid zlib: {ex.Message}");
        }

        var image = new byte[stride * height];
        for (var y = 0; y < height; y++)
        {
            var filter = raw[y * (stride + 1)];
            var line = raw.AsSpan(y * (stride + 1) + 1, stride);
            var cur = image.AsSpan(y * stride, stride);
            var prev = y > 0 ? image.AsSpan((y - 1) * stride, stride) : Span<byte>.Empty;
            for (var i = 0; i < stride; i++)
            {
                int a = i >= channels ? cur[i - channels] : 0;
                int b = y > 0 ? prev[i] : 0;
                int c = y > 0 && i >= channels ? prev[i - channels] : 0;
                cur[i] = filter switch
                {
                    0 => line[i],
                    1 => (byte)(line[i] + a),
                    2 => (byte)(line[i] + b),
                    3 => (byte)(line[i] + ((a + b) >> 1)),
                    4 => (byte)(line[i] + Paeth(a, b, c)),
                    _ => (byte)0,
                };
            }
            if (filter > 4) return Fail($"PNG row {y} has unknown filter type {filter}");
        }
        if (channels == 1) return (image, width, height, null);
        var grey = new byte[width * height];
        for (var p = 0; p < grey.Length; p++)
        {
            var o = p * channels;
            grey[p] = channels <= 2 ? image[o] : (byte)((image[o] * 299 + image[o + 1] * 587 + image[o + 2] * 114 + 500) / 1000);
        }
        return (grey, width, height, null);
    }

    /// <summary>Encodes 8-bit grey pixels as a PNG (filter 0; the tests and the simulator send frames this way).</summary>
    public static byte[] Encode(ReadOnlySpan<byte> pixels, int width, int height)
    {
        using var ms = new MemoryStream();
        ms.Write(Signature);
        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[4..], height);
        ihdr[8] = 8; ihdr[9] = 0; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
        WriteChunk(ms, "IHDR", ihdr);
        using var raw = new MemoryStream();
        using (var z = new ZLibStream(raw, CompressionLevel.Fastest, leaveOpen: true))
            for (var y = 0; y < height; y++)
            {
                z.WriteByte(0);
                z.Write(pixels.Slice(y * width, width));
            }
        WriteChunk(ms, "IDAT", raw.ToArray());
        WriteChunk(ms, "IEND", []);
        return ms.ToArray();
    }

    private static void WriteChunk(Stream s, string type, ReadOnlySpan<byte> body)
    {
        Span<byte> head = stackalloc byte[8];
        BinaryPrimitives.WriteInt32BigEndian(head, body.Length);
        System.Text.Encoding.ASCII.GetBytes(type, head[4..]);
        s.Write(head);
        s.Write(body);
        var crc = Crc(Crc(0xFFFFFFFFu, head[4..]), body) ^ 0xFFFFFFFFu;
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(tail, crc);
        s.Write(tail);
    }

    private static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        var c = (uint)n;
        for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    private static uint Crc(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (var b in data) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    private static int Paeth(int a, int b, int c)
    {
        var p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static (byte[]?, int, int, string?) Fail(string error) => (null, 0, 0, error);
}
