using System.Buffers.Binary;
using System.IO.Compression;
using EdgeActors.Nodes.Data;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Tests.Simulation;

public sealed class FashionMnistTests(FashionMnistFixture fixture) : IClassFixture<FashionMnistFixture>
{
    [FashionMnistFact]
    public void Train_set_should_hold_60000_images_of_28x28_with_6000_per_class()
    {
        var train = fixture.Train;

        Assert.Equal(60_000, train.Count);
        Assert.Equal(28, train.Rows);
        Assert.Equal(28, train.Columns);
        Assert.Equal(60_000 * 28 * 28, train.Images.Length);
        Assert.Equal(60_000, train.Labels.Length);
        AssertClassCounts(train.Labels, 6000);
    }

    [FashionMnistFact]
    public void Test_set_should_hold_10000_images_of_28x28_with_1000_per_class()
    {
        var test = fixture.Test;

        Assert.Equal(10_000, test.Count);
        Assert.Equal(28, test.Rows);
        Assert.Equal(28, test.Columns);
        Assert.Equal(10_000 * 28 * 28, test.Images.Length);
        Assert.Equal(10_000, test.Labels.Length);
        AssertClassCounts(test.Labels, 1000);
    }

    [FashionMnistFact]
    public void First_test_image_should_be_an_ankle_boot()
    {
        // Checked against the raw file: t10k-labels-idx1-ubyte.gz starts 00000801 00002710 09 02 01 01 06 ...
        var test = fixture.Test;

        Assert.Equal(9, test.Labels[0]);
        Assert.Equal("Ankle boot", FashionMnist.ClassNames[test.Labels[0]]);
    }

    [FashionMnistFact]
    public void Image_should_be_a_row_major_view_of_the_images_array()
    {
        var test = fixture.Test;

        var image = test.Image(3);
        Assert.Equal(784, image.Length);
        Assert.True(image.SequenceEqual(test.Images.AsSpan(3 * 784, 784)));
        Assert.Contains(image.ToArray(), p => p != 0);

        var copy = test.ImageCopy(3);
        Assert.Equal(image.ToArray(), copy);
        copy[0] ^= 0xFF;
        Assert.NotEqual(copy[0], test.Images[3 * 784]);

        Assert.Throws<ArgumentOutOfRangeException>(() => test.ImageCopy(test.Count));
        Assert.Throws<ArgumentOutOfRangeException>(() => test.ImageCopy(-1));
    }

    [FashionMnistFact]
    public void Limit_should_load_only_the_first_images()
    {
        var limited = FashionMnist.Load(FashionMnist.DefaultDirectory, train: false, limit: 100);

        Assert.Equal(100, limited.Count);
        Assert.Equal(100 * 784, limited.Images.Length);
        Assert.Equal(fixture.Test.Labels.AsSpan(0, 100).ToArray(), limited.Labels);
        Assert.Equal(fixture.Test.Images.AsSpan(0, 100 * 784).ToArray(), limited.Images);
    }

    [ExplicitDirectoryFact]
    public void Corrupt_magic_number_should_throw_InvalidDataException_naming_the_file()
    {
        using var dir = new TempDir();
        WriteIdx(Path.Combine(dir.Path, "t10k-images-idx3-ubyte.gz"), magic: 1234, [10, 28, 28], new byte[10 * 784]);
        WriteIdx(Path.Combine(dir.Path, "t10k-labels-idx1-ubyte.gz"), magic: 2049, [10], new byte[10]);

        var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(dir.Path, train: false));

        Assert.Contains("t10k-images-idx3-ubyte.gz", ex.Message);
        Assert.Contains("magic", ex.Message);
    }

    [ExplicitDirectoryFact]
    public void Label_count_mismatch_should_throw_InvalidDataException()
    {
        using var dir = new TempDir();
        WriteIdx(Path.Combine(dir.Path, "t10k-images-idx3-ubyte.gz"), magic: 2051, [10, 28, 28], new byte[10 * 784]);
        WriteIdx(Path.Combine(dir.Path, "t10k-labels-idx1-ubyte.gz"), magic: 2049, [9], new byte[9]);

        var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(dir.Path, train: false));

        Assert.Contains("t10k-labels-idx1-ubyte.gz", ex.Message);
    }

    [ExplicitDirectoryFact]
    public void Truncated_file_should_throw_InvalidDataException_naming_the_file()
    {
        using var dir = new TempDir();
        WriteIdx(Path.Combine(dir.Path, "train-images-idx3-ubyte.gz"), magic: 2051, [10, 28, 28], new byte[9 * 784]);
        WriteIdx(Path.Combine(dir.Path, "train-labels-idx1-ubyte.gz"), magic: 2049, [10], new byte[10]);

        var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(dir.Path, train: true));

        Assert.Contains("train-images-idx3-ubyte.gz", ex.Message);
        Assert.Contains("truncated", ex.Message);
    }

    [ExplicitDirectoryFact]
    public void Not_gzip_should_throw_InvalidDataException_naming_the_file()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(Path.Combine(dir.Path, "t10k-images-idx3-ubyte.gz"), "definitely not gzip"u8.ToArray());
        WriteIdx(Path.Combine(dir.Path, "t10k-labels-idx1-ubyte.gz"), magic: 2049, [1], new byte[1]);

        var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(dir.Path, train: false));

        Assert.Contains("t10k-images-idx3-ubyte.gz", ex.Message);
    }

    [ExplicitDirectoryFact]
    public void Small_valid_files_should_load()
    {
        using var dir = new TempDir();
        var pixels = Enumerable.Range(0, 3 * 4 * 5).Select(i => (byte)i).ToArray();
        WriteIdx(Path.Combine(dir.Path, "t10k-images-idx3-ubyte.gz"), magic: 2051, [3, 4, 5], pixels);
        WriteIdx(Path.Combine(dir.Path, "t10k-labels-idx1-ubyte.gz"), magic: 2049, [3], [7, 0, 9]);

        var data = FashionMnist.Load(dir.Path, train: false);

        Assert.Equal(3, data.Count);
        Assert.Equal(4, data.Rows);
        Assert.Equal(5, data.Columns);
        Assert.Equal(pixels.AsSpan(20, 20).ToArray(), data.ImageCopy(1));
        Assert.Equal(new byte[] { 7, 0, 9 }, data.Labels);
    }

    [ExplicitDirectoryFact]
    public void Missing_directory_should_throw_FileNotFoundException_mentioning_apt_get()
    {
        var missing = Path.Combine(Path.GetTempPath(), "edgeactors-no-such-dir-" + Guid.NewGuid().ToString("N"));

        var ex = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load(missing, train: true));

        Assert.Contains("apt-get install dataset-fashion-mnist", ex.Message);
        Assert.Contains(FashionMnist.DirectoryEnvironmentVariable, ex.Message);
    }

    [ExplicitDirectoryFact]
    public void Missing_file_should_throw_FileNotFoundException_naming_it()
    {
        using var dir = new TempDir();
        WriteIdx(Path.Combine(dir.Path, "t10k-images-idx3-ubyte.gz"), magic: 2051, [1, 28, 28], new byte[784]);

        var ex = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load(dir.Path, train: false));

        Assert.Contains("t10k-labels-idx1-ubyte.gz", ex.Message);
        Assert.Contains("apt-get", ex.Message);
    }

    [ExplicitDirectoryFact]
    public void ResolveDirectory_should_fall_back_to_the_default()
    {
        Assert.Equal("/some/dir", FashionMnist.ResolveDirectory("/some/dir"));
        Assert.Equal(FashionMnist.DefaultDirectory, FashionMnist.ResolveDirectory(null));
    }

    private static void AssertClassCounts(byte[] labels, int perClass)
    {
        var counts = new int[10];
        foreach (var label in labels)
        {
            Assert.InRange(label, 0, 9);
            counts[label]++;
        }
        Assert.All(counts, c => Assert.Equal(perClass, c));
    }

    private static void WriteIdx(string path, int magic, int[] dims, byte[] payload)
    {
        using var file = File.Create(path);
        using var gzip = new GZipStream(file, CompressionLevel.Fastest);
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, magic);
        gzip.Write(word);
        foreach (var d in dims)
        {
            BinaryPrimitives.WriteInt32BigEndian(word, d);
            gzip.Write(word);
        }
        gzip.Write(payload);
    }

    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("edgeactors-fmnist-").FullName;

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); }
            catch (IOException) { }
        }
    }
}
