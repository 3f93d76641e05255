namespace EdgeActors.Learning.Federated;

/// <summary>
/// The coordinator's server-side optimisation state, stored with each committed round (<c>IFederationStore.CommitRoundAsync</c>)
/// so that a coordinator failover continues with it instead of zeros: the <see cref="ServerOptimizer"/>'s moments
/// (FedAvgM's m; FedAdam/FedYogi's m and v) and SCAFFOLD's server control variate c.
/// Format: <c>[version 1][kind byte][m: int count, doubles][v: int count, doubles][c: int count, floats]</c>, little-endian;
/// an empty blob means "nothing stored" (an experiment of an earlier release: it starts from m = 0, v = τ², c = 0).
/// </summary>
public static class ServerState
{
    private const byte Version = 1;

    public static byte[] Encode(ServerOptimizer optimizer, float[]? control)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream))
        {
            w.Write(Version);
            w.Write((byte)optimizer.Kind);
            var m = optimizer.Kind == ServerOptimizerKind.Sgd ? [] : optimizer.FirstMoment;
            var v = optimizer.SecondMoment;
            w.Write(m.Length);
            foreach (var x in m) w.Write(x);
            w.Write(v.Length);
            foreach (var x in v) w.Write(x);
            var c = control ?? [];
            w.Write(c.Length);
            foreach (var x in c) w.Write(x);
        }
        return stream.ToArray();
    }

    /// <summary>
    /// Loads <paramref name="blob"/> into <paramref name="optimizer"/> and <paramref name="control"/> (in place). Nothing
    /// happens for an empty blob. Throws <see cref="InvalidDataException"/> naming what does not fit (another optimiser
    /// kind, another model size, a truncated blob).
    /// </summary>
    public static void Restore(byte[] blob, ServerOptimizer optimizer, float[]? control)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        if (blob is null || blob.Length == 0) return;
        try
        {
            using var r = new BinaryReader(new MemoryStream(blob, writable: false));
            var version = r.ReadByte();
            if (version != Version) throw new InvalidDataException($"server state: format version {version}; this release reads version {Version}");
            var kind = (ServerOptimizerKind)r.ReadByte();
            if (kind != optimizer.Kind) throw new InvalidDataException($"server state: stored for the {kind} optimiser; the experiment uses {optimizer.Kind}");
            var m = Doubles(r, optimizer.Dimension, "m");
            var v = Doubles(r, optimizer.Dimension, "v");
            var n = r.ReadInt32();
            if (n != 0 && n != (control?.Length ?? -1))
                throw new InvalidDataException($"server state: control variate of {n} values; the model has {control?.Length ?? 0} (or the strategy keeps none)");
            for (var i = 0; i < n; i++) control![i] = r.ReadSingle();
            if (r.BaseStream.Position != blob.Length) throw new InvalidDataException($"server state: {blob.Length - r.BaseStream.Position} bytes after the fields");
            optimizer.SetMoments(m, v);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"server state: truncated ({blob.Length} bytes)");
        }
    }

    private static double[] Doubles(BinaryReader r, int dimension, string name)
    {
        var n = r.ReadInt32();
        if (n != 0 && n != dimension) throw new InvalidDataException($"server state: {name} has {n} values; the model has {dimension}");
        var a = new double[n];
        for (var i = 0; i < n; i++) a[i] = r.ReadDouble();
        return a;
    }
}
