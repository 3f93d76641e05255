using System.Buffers;
using System.IO.Compression;
using System.Runtime.Serialization;

namespace EdgeActors.Messages;

/// <summary>
/// Brotli (fastest level) for <see cref="SyncBatch"/> payloads. <see cref="Decompress"/> writes into a buffer of exactly
/// the announced size and fails when the stream wants more (bomb or wrong size), ends early, is corrupt or has trailing bytes.
/// </summary>
public static class SyncCompression
{
    /// <summary>Brotli quality 1 (what <see cref="System.IO.Compression.CompressionLevel.Fastest"/> maps to), 22-bit window.</summary>
    private const int Quality = 1, Window = 22;

    public static byte[] Compress(ReadOnlySpan<byte> raw)
    {
        var max = BrotliEncoder.GetMaxCompressedLength(raw.Length);
        var rented = ArrayPool<byte>.Shared.Rent(Math.Max(max, 16));
        try
        {
            if (!BrotliEncoder.TryCompress(raw, rented, out var written, Quality, Window))
                throw new InvalidOperationException($"Brotli could not compress {raw.Length} bytes");
            return rented.AsSpan(0, written).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Decompresses <paramref name="payload"/>, which must expand to exactly <paramref name="rawBytes"/> bytes (the only allocation).</summary>
    public static byte[] Decompress(ReadOnlySpan<byte> payload, int rawBytes)
    {
        if (rawBytes < 0) throw new SerializationException($"sync payload: negative raw size {rawBytes}");
        if (payload.IsEmpty) throw new SerializationException("sync payload: empty");
        // an empty destination always reads as "too small"; one spare byte tells an empty stream from a bomb
        var raw = new byte[rawBytes == 0 ? 1 : rawBytes];
        using var decoder = new BrotliDecoder();
        var status = decoder.Decompress(payload, raw, out var consumed, out var written);
        if (rawBytes == 0 && status == System.Buffers.OperationStatus.Done && written > 0) status = System.Buffers.OperationStatus.DestinationTooSmall;
        switch (status)
        {
            case System.Buffers.OperationStatus.Done:
                if (written != rawBytes)
                    throw new SerializationException($"sync payload: decompressed to {written} bytes but the batch announces {rawBytes}");
                if (consumed != payload.Length)
                    throw new SerializationException($"sync payload: {payload.Length - consumed} trailing bytes after the compressed stream");
                return rawBytes == 0 ? [] : raw;
            case System.Buffers.OperationStatus.DestinationTooSmall:
                throw new SerializationException(
                    $"sync payload: decompresses to more than the announced {rawBytes} bytes (decompression bomb or wrong raw size); stopped at the cap");
            case System.Buffers.OperationStatus.NeedMoreData:
                throw new SerializationException(
                    $"sync payload: compressed stream is truncated ({payload.Length} bytes gave {written} of {rawBytes} raw bytes)");
            default:
                throw new SerializationException($"sync payload: corrupt Brotli data (after {consumed} of {payload.Length} bytes)");
        }
    }
}
