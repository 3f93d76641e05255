namespace EdgeActors.Messages.Serialization;

/// <summary>
/// Wire encoding of the inference messages (InferenceMessages.cs; part of <see cref="EdgeCodec"/>): inference requests
/// and answers, the model registry, the node inference status, and the <see cref="Prediction"/> that acks and sync
/// records carry.
/// </summary>
internal static class InferenceCodec
{
    /// <summary>Extension field 1 of <c>if</c>: <see cref="Infer.ByteInput"/> (length-delimited), written only when set.</summary>
    internal const int InferByteInputField = 1;

    public static readonly MessageKinds Kinds = new()
    {
        { "if", WriteInfer, ReadInfer },
        {
            "ir", static (w, m) =>
            {
                w.VarI(m.RequestId); w.String(m.Model); w.Int(m.Version); w.String(m.Provider); w.String(m.Node); w.Int(m.Count);
                w.Int(m.OutputSize); w.Floats(m.Output);
            },
            static (ref BinReader r) => new InferResult(r.VarI(), r.String(), r.Int(), r.String(), r.String(), r.Int(), r.Int(), r.Floats())
        },
        {
            "ij", static (w, m) => { w.VarI(m.RequestId); w.String(m.Model); w.Byte((byte)m.Reason); w.String(m.Detail); },
            static (ref BinReader r) => new InferRejected(r.VarI(), r.String(), r.Enum<InferRejectReason>(), r.String())
        },
        {
            "pm", static (w, m) => { w.String(m.Name); w.Bytes(m.Onnx); w.Ints(m.InputShape); w.Strings(m.Labels); w.String(m.Description); },
            static (ref BinReader r) => new PublishModel(r.String(), r.Bytes(), r.Ints(), r.Strings(), r.String())
        },
        {
            "mp", static (w, m) => { WriteModel(w, m.Model); w.Bool(m.Active); },
            static (ref BinReader r) => new ModelPublished(ReadModel(ref r), r.Bool())
        },
        {
            "mr", static (w, m) => { w.String(m.Name); w.String(m.Reason); },
            static (ref BinReader r) => new ModelCommandRejected(r.String(), r.String())
        },
        { "lm", ListModels.Instance },
        {
            "ml", static (w, m) => { w.Array(m.Models, WriteModel); w.Array(m.Policies, WritePolicy); },
            static (ref BinReader r) => new ModelList(r.Array(8, ReadModel), r.Array(3, ReadPolicy))
        },
        {
            "sp", static (w, m) => { w.String(m.Name); w.Int(m.Version); },
            static (ref BinReader r) => new SetModelPolicy(r.String(), r.Int())
        },
        { "rb", static (w, m) => w.String(m.Name), static (ref BinReader r) => new RollbackModel(r.String()) },
        {
            "pc", static (w, m) => { WritePolicy(w, m.Policy); WriteModel(w, m.Active); },
            static (ref BinReader r) => new ModelPolicyChanged(ReadPolicy(ref r), ReadModel(ref r))
        },
        { "ma", static (w, m) => WriteModel(w, m.Model), static (ref BinReader r) => new ModelActivated(ReadModel(ref r)) },
        { "ga", GetActiveModels.Instance },
        { "am", static (w, m) => w.Array(m.Models, WriteModel), static (ref BinReader r) => new ActiveModels(r.Array(8, ReadModel)) },
        {
            "fc", static (w, m) => { w.String(m.Name); w.Int(m.Version); w.VarI(m.Offset); w.Int(m.MaxBytes); },
            static (ref BinReader r) => new FetchModelChunk(r.String(), r.Int(), r.VarI(), r.Int())
        },
        {
            "mc", static (w, m) => { w.String(m.Name); w.Int(m.Version); w.VarI(m.Offset); w.VarI(m.Total); w.Bytes(m.Data); },
            static (ref BinReader r) => new ModelChunk(r.String(), r.Int(), r.VarI(), r.VarI(), r.Bytes())
        },
        { "gi", GetInferenceStatus.Instance, static node => new GetInferenceStatus(node) },
        { "is", WriteStatus, ReadStatus },
    };

    private static void WriteInfer(BinWriter w, Infer m)
    {
        w.String(m.Model); w.VarI(m.RequestId); w.Int(m.Count); w.Floats(m.Input); w.Byte((byte)m.Priority);
        if (m.ByteInput is not null) w.ExtBytes(InferByteInputField, m.ByteInput);
    }

    private static Infer ReadInfer(ref BinReader r) =>
        new(r.String(), r.VarI(), r.Int(), r.Floats(), r.Enum<InferencePriority>(b => b <= 1)) { ByteInput = ReadInferExtensions(ref r) };

    /// <summary>The extension fields of <c>if</c>: <see cref="Infer.ByteInput"/> (null when absent); others are skipped.</summary>
    private static byte[]? ReadInferExtensions(ref BinReader r)
    {
        byte[]? byteInput = null;
        while (r.NextExtension(out var field, out var type))
        {
            if (field == InferByteInputField) byteInput = r.ExtBytes(field, type);
            else r.Skip(type);
        }
        return byteInput;
    }

    internal static void WritePrediction(BinWriter w, Prediction? p) =>
        w.Optional(p, static (w, p) =>
        {
            w.Int(p.Label); w.Float(p.Confidence); w.String(p.Model); w.Int(p.Version); w.String(p.ServedBy); w.Bool(p.Escalated); w.Byte((byte)p.Note);
        });

    internal static Prediction? ReadPrediction(ref BinReader r) =>
        r.Optional(static (ref BinReader r) => new Prediction(r.Int(), r.Float(), r.String(), r.Int(), r.String(), r.Bool(), r.Enum<PredictionNote>()));

    private static void WriteModel(BinWriter w, ModelInfo m)
    {
        w.String(m.Name); w.Int(m.Version); w.Ints(m.InputShape); w.Strings(m.Labels); w.String(m.Sha256); w.VarI(m.SizeBytes); w.VarI(m.CreatedAtMs);
        w.String(m.Description);
    }

    private static ModelInfo ReadModel(ref BinReader r) => new(r.String(), r.Int(), r.Ints(), r.Strings(), r.String(), r.VarI(), r.VarI(), r.String());

    private static void WritePolicy(BinWriter w, ModelPolicy p)
    {
        w.String(p.Name); w.Int(p.ActiveVersion); w.Int(p.PinnedVersion);
    }

    private static ModelPolicy ReadPolicy(ref BinReader r) => new(r.String(), r.Int(), r.Int());

    private static void WriteStatus(BinWriter w, InferenceStatus s)
    {
        w.String(s.Node); w.String(s.Provider); w.String(s.ProviderNote);
        w.Array(s.Models, static (w, m) =>
        {
            w.String(m.Name); w.Int(m.Version); w.Int(m.QueueDepth); w.VarI(m.Served); w.VarI(m.Batches); w.VarI(m.Overloaded);
            w.VarI(m.Escalated); w.VarI(m.Overflowed); w.String(m.LastError);
            w.Optional(m.Session, static (w, h) =>
            {
                w.String(h.Primary); w.String(h.Serving); w.VarI(h.PrimaryFailures); w.Int(h.ConsecutiveFailures); w.VarI(h.Recreations);
                w.VarI(h.FallbackBatches); w.String(h.FallbackReason); w.VarI(h.NextPrimaryRetryMs);
            });
        });
        w.Optional(s.Datacenter, static (w, b) =>
        {
            w.Byte((byte)b.State); w.Int(b.ConsecutiveFailures); w.VarI(b.Opens); w.VarI(b.FastAnswers); w.VarI(b.RetryAtMs); w.String(b.LastFailure);
        });
    }

    private static InferenceStatus ReadStatus(ref BinReader r) => new(
        r.String(), r.String(), r.String(),
        r.Array(9, static (ref BinReader r) => new LoadedModel( // name, 7 numbers, error
            r.String(), r.Int(), r.Int(), r.VarI(), r.VarI(), r.VarI(), r.VarI(), r.VarI(), r.String(),
            r.Optional(static (ref BinReader r) => new SessionHealth(r.String(), r.String(), r.VarI(), r.Int(), r.VarI(), r.VarI(), r.String(), r.VarI())))),
        r.Optional(static (ref BinReader r) =>
            new CircuitBreakerStatus(r.Enum<CircuitState>(b => b <= (byte)CircuitState.HalfOpen), r.Int(), r.VarI(), r.VarI(), r.VarI(), r.String())));
}
