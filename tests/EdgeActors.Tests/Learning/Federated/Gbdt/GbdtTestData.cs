using EdgeActors.Learning.Federated.Gbdt;

namespace EdgeActors.Tests.Learning.Federated.Gbdt;

/// <summary>Small synthetic classification data: the label depends on a few features, with noise and many repeated values.</summary>
internal sealed record GbdtTestData(float[] X, byte[] Y, int Rows, int Features, int Classes)
{
    public static GbdtTestData Make(int rows, int features, int classes, int seed)
    {
        var rng = new Random(seed);
        var x = new float[rows * features];
        var y = new byte[rows];
        for (var r = 0; r < rows; r++)
        {
            for (var f = 0; f < features; f++)
                x[r * features + f] = MathF.Round((float)rng.NextDouble() * 100f) / 100f; // 101 distinct values, repeats
            var s = x[r * features] + 0.5f * x[r * features + 1] - 0.3f * x[r * features + 2] + 0.2f * (float)rng.NextDouble();
            var c = (int)MathF.Floor(s * classes / 1.7f + 0.3f);
            y[r] = (byte)Math.Clamp(c, 0, classes - 1);
        }
        return new GbdtTestData(x, y, rows, features, classes);
    }

    /// <summary>Rows [start, end) as a party.</summary>
    public GbdtParty Party(int start, int end) => new(
        X.AsSpan(start * Features, (end - start) * Features).ToArray(), end - start, Features,
        Y.AsSpan(start, end - start).ToArray(), Classes);
}
