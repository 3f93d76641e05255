using System.Buffers.Binary;
using System.IO.Compression;

namespace EdgeActors.Nodes.Data;

/// <summary>
/// Fashion-MNIST in memory: <see cref="Count"/> grey images of <see cref="Rows"/>×<see cref="Columns"/> bytes
/// (row-major, concatenated in <see cref="Images"/>) and one label 0..9 per image.
/// Read from the gzip IDX files that the Debian package <c>dataset-fashion-mnist</c> installs.
/// </summary>
public sealed class FashionMnist
{
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>Environment variable that, when set to a non-empty value, overrides the directory passed to <see cref="Load"/>.</summary>
    public const string DirectoryEnvironmentVariable = "EDGEACTORS_FASHION_MNIST_DIR";

    public static readonly string[] ClassNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    private const int ImagesMagic = 0x00000803; // 2051
    private const int LabelsMagic = 0x00000801; // 2049
    private const int MaxDimension = 4096;

    private const string InstallHint =
        "Install it with `sudo apt-get install dataset-fashion-mnist` or set " + DirectoryEnvironmentVariable +
        " to a directory holding the four gzip IDX files.";

    private FashionMnist(int count, int rows, int columns, byte[] images, byte[] labels)
    {
        Count = count;
        Rows = rows;
        Columns = columns;
        Images = images;
        Labels = labels;
    }

    public int Count { get; }
    public int Rows { get; }
    public int Columns { get; }

    /// <summary><c>Count*Rows*Columns</c> bytes, image <c>i</c> at <c>[i*Rows*Columns, (i+1)*Rows*Columns)</c>, row-major.</summary>
    public byte[] Images { get; }

    /// <summary>One label (0..9, see <see cref="ClassNames"/>) per image.</summary>
    public byte[] Labels { get; }

    private int ImageSize => Rows * Columns;

    /// <summary>The pixels of image <paramref name="i"/> (a view into <see cref="Images"/>).</summary>
    public ReadOnlySpan<byte> Image(int i)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(i);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(i, Count);
        return Images.AsSpan(i * ImageSize, ImageSize);
    }

    /// <summary>A fresh copy of the pixels of image <paramref name="i"/>.</summary>
    public byte[] ImageCopy(int i) => Image(i).ToArray();

    /// <summary>
    /// The directory to load from: <see cref="DirectoryEnvironmentVariable"/> when it is set (non-empty),
    /// otherwise <paramref name="explicitDir"/>, otherwise <see cref="DefaultDirectory"/>.
    /// </summary>
    public static string ResolveDirectory(string? explicitDir)
    {
        var fromEnv = Environment.GetEnvironmentVariable(DirectoryEnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnv))
            return fromEnv;
        return string.IsNullOrWhiteSpace(explicitDir) ? DefaultDirectory : explicitDir;
    }

    /// <summary>
    /// Loads the training set (60,000 images) or the test set (10,000 images), at most <paramref name="limit"/> of them.
    /// </summary>
    /// <exception cref="FileNotFoundException">The directory or one of its two files is missing.</exception>
    /// <exception cref="InvalidDataException">A file is not a valid gzip IDX file of the expected kind, or the two disagree.</exception>
    public static FashionMnist Load(string directory, bool train, int? limit = null)
    {
        if (limit is { } l)
            ArgumentOutOfRangeException.ThrowIfNegative(l, nameof(limit));

        var dir = ResolveDirectory(directory);
        var prefix = train ? "train" : "t10k";
        var imagesPath = Path.Combine(dir, prefix + "-images-idx3-ubyte.gz");
        var labelsPath = Path.Combine(dir, prefix + "-labels-idx1-ubyte.gz");

        if (!Directory.Exists(dir))
            throw new FileNotFoundException($"Fashion-MNIST directory '{dir}' does not exist. {InstallHint}", dir);
        foreach (var path in new[] { imagesPath, labelsPath })
        {
            if (!File.Exists(path))
                throw new FileNotFoundException($"Fashion-MNIST file '{path}' does not exist. {InstallHint}", path);
        }

        var (imageCount, rows, columns, images) = ReadImages(imagesPath, limit);
        var (labelCount, labels) = ReadLabels(labelsPath, limit);

        if (imageCount != labelCount)
        {
            throw new InvalidDataException(
                $"Fashion-MNIST files disagree: '{imagesPath}' holds {imageCount} images but '{labelsPath}' holds {labelCount} labels.");
        }

        return new FashionMnist(images.Length / (rows * columns), rows, columns, images, labels);
    }

    private static (int Count, int Rows, int Columns, byte[] Pixels) ReadImages(string path, int? limit)
    {
        return WithGzip(path, stream =>
        {
            var header = ReadExactly(stream, 16, path, "the 16-byte header");
            var magic = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(0, 4));
            if (magic != ImagesMagic)
                throw Invalid(path, $"bad magic number {magic} (0x{magic:X8}); an IDX image file starts with {ImagesMagic} (0x{ImagesMagic:X8})");
            var count = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4, 4));
            var rows = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(8, 4));
            var columns = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(12, 4));
            if (count < 0)
                throw Invalid(path, $"negative image count {count}");
            if (rows is <= 0 or > MaxDimension || columns is <= 0 or > MaxDimension)
                throw Invalid(path, $"bad image dimensions {rows}x{columns}");

            var take = Math.Min(count, limit ?? int.MaxValue);
            var bytes = (long)take * rows * columns;
            if (bytes > Array.MaxLength)
                throw Invalid(path, $"{take} images of {rows}x{columns} do not fit in one array");
            var pixels = ReadExactly(stream, (int)bytes, path, $"{take} images of {rows}x{columns} pixels");
            if (take == count)
                EnsureAtEnd(stream, path);
            return (count, rows, columns, pixels);
        });
    }

    private static (int Count, byte[] Labels) ReadLabels(string path, int? limit)
    {
        return WithGzip(path, stream =>
        {
            var header = ReadExactly(stream, 8, path, "the 8-byte header");
            var magic = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(0, 4));
            if (magic != LabelsMagic)
                throw Invalid(path, $"bad magic number {magic} (0x{magic:X8}); an IDX label file starts with {LabelsMagic} (0x{LabelsMagic:X8})");
            var count = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4, 4));
            if (count < 0)
                throw Invalid(path, $"negative label count {count}");

            var take = Math.Min(count, limit ?? int.MaxValue);
            var labels = ReadExactly(stream, take, path, $"{take} labels");
            for (var i = 0; i < labels.Length; i++)
            {
                if (labels[i] >= ClassNames.Length)
                    throw Invalid(path, $"label {labels[i]} at index {i} is outside 0..{ClassNames.Length - 1}");
            }
            if (take == count)
                EnsureAtEnd(stream, path);
            return (count, labels);
        });
    }

    private static T WithGzip<T>(string path, Func<Stream, T> read)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            using var gzip = new GZipStream(file, CompressionMode.Decompress);
            using var buffered = new BufferedStream(gzip, 1 << 16);
            return read(buffered);
        }
        catch (InvalidDataException ex) when (!ex.Message.Contains(path, StringComparison.Ordinal))
        {
            // GZipStream's own complaint (not gzip, corrupt deflate data) does not name the file.
            throw Invalid(path, $"not a readable gzip file ({ex.Message})", ex);
        }
    }

    private static byte[] ReadExactly(Stream stream, int length, string path, string what)
    {
        var buffer = new byte[length];
        var read = stream.ReadAtLeast(buffer, length, throwOnEndOfStream: false);
        if (read < length)
            throw Invalid(path, $"truncated: expected {what} ({length} bytes) but only {read} bytes remain");
        return buffer;
    }

    private static void EnsureAtEnd(Stream stream, string path)
    {
        Span<byte> probe = stackalloc byte[1];
        if (stream.Read(probe) != 0)
            throw Invalid(path, "unexpected trailing data after the last item declared in the header");
    }

    private static InvalidDataException Invalid(string path, string problem, Exception? inner = null) =>
        new($"Invalid Fashion-MNIST file '{path}': {problem}.", inner);
}
