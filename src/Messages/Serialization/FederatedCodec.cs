namespace EdgeActors.Messages.Serialization;

/// <summary>Wire encoding of the federated-learning messages (part of <see cref="EdgeCodec"/>).</summary>
internal static class FederatedCodec
{
    public static readonly MessageKinds Kinds = new()
    {
        {
            "tf", static (w, t) => { w.Device(t.DeviceId); w.VarI(t.FirstSequence); w.Bytes(t.Pixels); w.Bytes(t.Labels); },
            static (ref BinReader r) => new TrainingFrames(r.Device(), r.VarI(), r.Bytes(), r.Bytes())
        },
        {
            "tk", static (w, a) =>
            {
                w.Device(a.DeviceId); w.VarI(a.NextSequence); w.Int(a.Accepted); w.Int(a.Duplicates); w.Int(a.Held); w.String(a.Node);
                w.String(a.Error);
            },
            static (ref BinReader r) => new TrainingFramesAck(r.Device(), r.VarI(), r.Int(), r.Int(), r.Int(), r.String(), r.String())
        },
        { "xs", static (w, s) => WriteSpec(w, s.Spec), static (ref BinReader r) => new StartExperiment(ReadSpec(ref r)) },
        {
            "xa", static (w, a) => { w.String(a.Id); w.Int(a.AvailableClients); },
            static (ref BinReader r) => new ExperimentAccepted(r.String(), r.Int())
        },
        {
            "xr", static (w, x) => { w.String(x.Id); w.String(x.Reason); },
            static (ref BinReader r) => new ExperimentRejected(r.String(), r.String())
        },
        { "xg", static (w, g) => w.String(g.Id), static (ref BinReader r) => new GetExperimentStatus(r.String()) },
        {
            "xt", static (w, s) =>
            {
                w.String(s.Id); w.String(s.State); w.Int(s.Round); w.Int(s.Rounds); w.Int(s.Attempt); w.String(s.Detail);
                w.Array(s.History, WriteRound);
                WriteRoundExtensions(w, s.History);
            },
            static (ref BinReader r) =>
            {
                var status = new ExperimentStatus(r.String(), r.String(), r.Int(), r.Int(), r.Int(), r.String(), r.Array(8, ReadRound));
                return status with { History = ReadRoundExtensions(ref r, status.History) };
            }
        },
        { "fg", GetFederationStatus.Instance },
        {
            "ft", static (w, f) =>
            {
                w.Array(f.Participants, static (w, p) => { w.String(p.Node); WriteClients(w, p.Clients); w.VarI(p.LastSeenMsAgo); });
                w.String(f.RunningExperiment);
            },
            static (ref BinReader r) =>
                new FederationStatus(r.Array(3, static (ref BinReader r) => new ParticipantInfo(r.String(), ReadClients(ref r), r.VarI())), r.String())
        },
        {
            "ph", static (w, h) => { w.String(h.Node); WriteClients(w, h.Clients); },
            static (ref BinReader r) => new ParticipantHeartbeat(r.String(), ReadClients(ref r))
        },
        {
            "tr", static (w, t) =>
            {
                w.String(t.ExperimentId); w.Int(t.Round); w.Int(t.Attempt); w.String(t.Model); w.Floats(t.Global);
                WriteTraining(w, t.Training);
                w.Strings(t.Clients); w.Strings(t.MaskPeers); w.ByteArrays(t.MaskKeys);
                if (t.ServerControl.Length > 0) w.ExtFloats(TrainRoundServerControlField, t.ServerControl);
            },
            static (ref BinReader r) =>
            {
                var t = new TrainRound(r.String(), r.Int(), r.Int(), r.String(), r.Floats(), ReadTraining(ref r), r.Strings(), r.Strings(), r.ByteArrays());
                while (r.NextExtension(out var field, out var type))
                {
                    if (field == TrainRoundServerControlField) t = t with { ServerControl = r.ExtFloats(field, type) };
                    else r.Skip(type);
                }
                return t;
            }
        },
        {
            "cu", static (w, u) =>
            {
                w.String(u.ExperimentId); w.Int(u.Round); w.Int(u.Attempt); w.String(u.ClientId); w.Int(u.Samples); w.Float(u.Loss);
                w.Floats(u.Delta);
                if (u.LocalSteps != 0) w.ExtVarI(UpdateLocalStepsField, u.LocalSteps);
                if (u.ControlDelta.Length > 0) w.ExtFloats(UpdateControlDeltaField, u.ControlDelta);
            },
            static (ref BinReader r) =>
            {
                var u = new ClientUpdate(r.String(), r.Int(), r.Int(), r.String(), r.Int(), r.Float(), r.Floats());
                while (r.NextExtension(out var field, out var type))
                {
                    if (field == UpdateLocalStepsField) u = u with { LocalSteps = checked((int)r.ExtVarI(field, type)) };
                    else if (field == UpdateControlDeltaField) u = u with { ControlDelta = r.ExtFloats(field, type) };
                    else r.Skip(type);
                }
                return u;
            }
        },
        {
            "cm", static (w, u) =>
            {
                w.String(u.ExperimentId); w.Int(u.Round); w.Int(u.Attempt); w.String(u.ClientId); w.Int(u.Samples); w.Float(u.Loss);
                w.ULongs(u.Masked);
            },
            static (ref BinReader r) => new MaskedClientUpdate(r.String(), r.Int(), r.Int(), r.String(), r.Int(), r.Float(), r.ULongs())
        },
        {
            "cx", static (w, f) => { w.String(f.ExperimentId); w.Int(f.Round); w.Int(f.Attempt); w.String(f.ClientId); w.String(f.Reason); },
            static (ref BinReader r) => new ClientFailed(r.String(), r.Int(), r.Int(), r.String(), r.String())
        },
        {
            "kq", static (w, k) => { w.String(k.ExperimentId); w.Int(k.Round); w.Int(k.Attempt); w.Strings(k.Clients); },
            static (ref BinReader r) => new MaskKeyRequest(r.String(), r.Int(), r.Int(), r.Strings())
        },
        {
            "ky", static (w, k) => { w.String(k.ExperimentId); w.Int(k.Round); w.Int(k.Attempt); w.Strings(k.Clients); w.ByteArrays(k.PublicKeys); },
            static (ref BinReader r) => new MaskKeys(r.String(), r.Int(), r.Int(), r.Strings(), r.ByteArrays())
        },
        {
            "rq", static (w, m) => { w.String(m.ExperimentId); w.Int(m.Round); w.Int(m.Attempt); w.Strings(m.Survivors); w.Strings(m.Dropped); },
            static (ref BinReader r) => new RevealMasks(r.String(), r.Int(), r.Int(), r.Strings(), r.Strings())
        },
        {
            "rv", static (w, m) =>
            {
                w.String(m.ExperimentId); w.Int(m.Round); w.Int(m.Attempt); w.Strings(m.Survivors); w.Strings(m.Dropped); w.ByteArrays(m.Seeds);
            },
            static (ref BinReader r) => new RevealedMasks(r.String(), r.Int(), r.Int(), r.Strings(), r.Strings(), r.ByteArrays())
        },
        {
            "km", static (w, k) => { w.String(k.Id); w.Int(k.K); w.Int(k.Iterations); w.Double(k.OutlierZ); w.Int(k.Seed); },
            static (ref BinReader r) => new StartKMeans(r.String(), r.Int(), r.Int(), r.Double(), r.Int())
        },
        {
            "gb", static (w, g) =>
            {
                w.String(g.Id); w.Int(g.Classes); w.Int(g.Iterations); w.Int(g.MaxDepth); w.Float(g.LearningRate); w.Int(g.MaxBins);
                w.Double(g.Lambda); w.Int(g.BinaryThreshold); w.String(g.PublishAs);
            },
            static (ref BinReader r) => new StartGbdt(r.String(), r.Int(), r.Int(), r.Int(), r.Float(), r.Int(), r.Double(), r.Int(), r.String())
        },
        { "jg", static (w, g) => w.String(g.Id), static (ref BinReader r) => new GetJobStatus(r.String()) },
        {
            "jt", static (w, j) =>
            {
                w.String(j.Id); w.String(j.Kind); w.String(j.State); w.String(j.Detail); w.Strings(j.ResultKeys); w.Doubles(j.ResultValues);
                w.Strings(j.Lines);
            },
            static (ref BinReader r) => new JobStatus(r.String(), r.String(), r.String(), r.String(), r.Strings(), r.Doubles(), r.Strings())
        },
        {
            "js", static (w, s) => { w.String(s.JobId); w.String(s.Kind); w.Int(s.Step); w.Bytes(s.Payload); },
            static (ref BinReader r) => new JobStep(r.String(), r.String(), r.Int(), r.Bytes())
        },
        {
            "jr", static (w, s) => { w.String(s.JobId); w.Int(s.Step); w.String(s.Node); w.Bytes(s.Payload); w.String(s.Error); },
            static (ref BinReader r) => new JobStepReply(r.String(), r.Int(), r.String(), r.Bytes(), r.String())
        },
    };

    private static void WriteSpec(BinWriter w, ExperimentSpec s)
    {
        w.String(s.Id); w.String(s.Model); w.String(s.Strategy); w.Int(s.Rounds); w.Double(s.Fraction); w.Int(s.MinClients);
        w.Int(s.LocalEpochs); w.Int(s.BatchSize); w.Float(s.LearningRate); w.Float(s.Momentum); w.Float(s.ProximalMu);
        w.Float(s.ServerLearningRate); w.Int(s.Seed); w.VarI(s.RoundTimeoutMs); w.Double(s.Quorum); w.String(s.LateUpdates);
        w.Int(s.MaxStaleness); w.Double(s.ClipNorm); w.Double(s.NoiseMultiplier); w.Bool(s.SecureAggregation);
        w.Strings(s.PoisonedClients); w.Float(s.PoisonScale); w.Double(s.TrimFraction); w.Int(s.KrumByzantine); w.String(s.PublishAs);
        WriteSpecExtensions(w, s);
    }

    private static ExperimentSpec ReadSpec(ref BinReader r)
    {
        var s = new ExperimentSpec(
            r.String(), r.String(), r.String(), r.Int(), r.Double(), r.Int(), r.Int(), r.Int(), r.Float(), r.Float(), r.Float(),
            r.Float(), r.Int(), r.VarI(), r.Double(), r.String(), r.Int(), r.Double(), r.Double(), r.Bool(), r.Strings(), r.Float(),
            r.Double(), r.Int(), r.String());
        while (r.NextExtension(out var field, out var type))
        {
            s = field switch
            {
                SpecServerBeta1Field => s with { ServerBeta1 = r.ExtDouble(field, type) },
                SpecServerBeta2Field => s with { ServerBeta2 = r.ExtDouble(field, type) },
                SpecServerTauField => s with { ServerTau = r.ExtDouble(field, type) },
                SpecLearningRateDecayField => s with { LearningRateDecay = r.ExtDouble(field, type) },
                SpecPublishToleranceField => s with { PublishTolerance = r.ExtDouble(field, type) },
                SpecEpsilonBudgetField => s with { EpsilonBudget = r.ExtDouble(field, type) },
                SpecDeltaField => s with { Delta = r.ExtDouble(field, type) },
                _ => Skip(ref r, type, s),
            };
        }
        return s;
    }

    private static T Skip<T>(ref BinReader r, WireType type, T value)
    {
        r.Skip(type);
        return value;
    }

    // extension fields of "xs" (the spec), written only when they differ from the default
    internal const int SpecServerBeta1Field = 1, SpecServerBeta2Field = 2, SpecServerTauField = 3, SpecLearningRateDecayField = 4,
        SpecPublishToleranceField = 5, SpecEpsilonBudgetField = 6, SpecDeltaField = 7;

    // extension fields of "tr" and "cu"
    internal const int TrainRoundServerControlField = 1;
    internal const int UpdateLocalStepsField = 1, UpdateControlDeltaField = 2;

    // extension fields of "xt": one value per round of History, each a parallel array, written when any round differs from the default
    internal const int RoundValidationField = 1, RoundPublishedField = 2, RoundPublishReasonField = 3, RoundEpsilonField = 4,
        RoundEpsilonOfRoundField = 5, RoundSamplingRateField = 6;

    private static void WriteSpecExtensions(BinWriter w, ExperimentSpec s)
    {
        var d = Defaults;
        if (s.ServerBeta1 != d.ServerBeta1) w.ExtDouble(SpecServerBeta1Field, s.ServerBeta1);
        if (s.ServerBeta2 != d.ServerBeta2) w.ExtDouble(SpecServerBeta2Field, s.ServerBeta2);
        if (s.ServerTau != d.ServerTau) w.ExtDouble(SpecServerTauField, s.ServerTau);
        if (s.LearningRateDecay != d.LearningRateDecay) w.ExtDouble(SpecLearningRateDecayField, s.LearningRateDecay);
        if (s.PublishTolerance != d.PublishTolerance) w.ExtDouble(SpecPublishToleranceField, s.PublishTolerance);
        if (s.EpsilonBudget != d.EpsilonBudget) w.ExtDouble(SpecEpsilonBudgetField, s.EpsilonBudget);
        if (s.Delta != d.Delta) w.ExtDouble(SpecDeltaField, s.Delta);
    }

    private static readonly ExperimentSpec Defaults = new("", "", "", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", 0, 0, 0, false, [], 0, 0, 0, "");

    private static void WriteRoundExtensions(BinWriter w, RoundSummary[] rounds)
    {
        if (rounds.Any(h => !double.IsNaN(h.ValidationAccuracy))) w.ExtNested(RoundValidationField, i => i.Doubles(rounds.Select(h => h.ValidationAccuracy).ToArray()));
        if (rounds.Any(h => h.Published)) w.ExtNested(RoundPublishedField, i => i.Bytes(rounds.Select(h => h.Published ? (byte)1 : (byte)0).ToArray()));
        if (rounds.Any(h => h.PublishReason.Length > 0)) w.ExtNested(RoundPublishReasonField, i => i.Strings(rounds.Select(h => h.PublishReason).ToArray()));
        if (rounds.Any(h => h.Epsilon != 0)) w.ExtNested(RoundEpsilonField, i => i.Doubles(rounds.Select(h => h.Epsilon).ToArray()));
        if (rounds.Any(h => h.RoundEpsilon != 0)) w.ExtNested(RoundEpsilonOfRoundField, i => i.Doubles(rounds.Select(h => h.RoundEpsilon).ToArray()));
        if (rounds.Any(h => h.SamplingRate != 0)) w.ExtNested(RoundSamplingRateField, i => i.Doubles(rounds.Select(h => h.SamplingRate).ToArray()));
    }

    private static RoundSummary[] ReadRoundExtensions(ref BinReader r, RoundSummary[] rounds)
    {
        while (r.NextExtension(out var field, out var type))
        {
            if (field is < RoundValidationField or > RoundSamplingRateField)
            {
                r.Skip(type);
                continue;
            }
            var inner = r.Nested(r.ExtBytes(field, type));
            switch (field)
            {
                case RoundValidationField:
                    var v = ParallelTo(ref inner, inner.Doubles(), rounds.Length, field);
                    for (var i = 0; i < rounds.Length; i++) rounds[i] = rounds[i] with { ValidationAccuracy = v[i] };
                    break;
                case RoundPublishedField:
                    var p = ParallelTo(ref inner, inner.Bytes(), rounds.Length, field);
                    for (var i = 0; i < rounds.Length; i++) rounds[i] = rounds[i] with { Published = p[i] != 0 };
                    break;
                case RoundPublishReasonField:
                    var why = ParallelTo(ref inner, inner.Strings(), rounds.Length, field);
                    for (var i = 0; i < rounds.Length; i++) rounds[i] = rounds[i] with { PublishReason = why[i] };
                    break;
                case RoundEpsilonField:
                    var e = ParallelTo(ref inner, inner.Doubles(), rounds.Length, field);
                    for (var i = 0; i < rounds.Length; i++) rounds[i] = rounds[i] with { Epsilon = e[i] };
                    break;
                case RoundEpsilonOfRoundField:
                    var re = ParallelTo(ref inner, inner.Doubles(), rounds.Length, field);
                    for (var i = 0; i < rounds.Length; i++) rounds[i] = rounds[i] with { RoundEpsilon = re[i] };
                    break;
                default:
                    var q = ParallelTo(ref inner, inner.Doubles(), rounds.Length, field);
                    for (var i = 0; i < rounds.Length; i++) rounds[i] = rounds[i] with { SamplingRate = q[i] };
                    break;
            }
        }
        return rounds;
    }

    /// <summary>Checks that a parallel array has one value per round and that nothing follows it in its field.</summary>
    private static T[] ParallelTo<T>(ref BinReader inner, T[] values, int rounds, int field)
    {
        inner.End();
        if (values.Length != rounds)
            throw new System.Runtime.Serialization.SerializationException($"EdgeSerializer: payload for manifest 'xt' is malformed: extension field {field} has {values.Length} values for {rounds} rounds");
        return values;
    }

    private static void WriteTraining(BinWriter w, LocalTraining t)
    {
        w.Int(t.Epochs); w.Int(t.BatchSize); w.Float(t.LearningRate); w.Float(t.Momentum); w.Float(t.ProximalMu); w.Int(t.Seed);
        w.Double(t.ClipNorm); w.Strings(t.PoisonedClients); w.Float(t.PoisonScale);
    }

    private static LocalTraining ReadTraining(ref BinReader r) =>
        new(r.Int(), r.Int(), r.Float(), r.Float(), r.Float(), r.Int(), r.Double(), r.Strings(), r.Float());

    private static void WriteClients(BinWriter w, ClientInfo[] clients) =>
        w.Array(clients, static (w, c) => { w.String(c.ClientId); w.Int(c.Samples); });

    private static ClientInfo[] ReadClients(ref BinReader r) => r.Array(2, static (ref BinReader r) => new ClientInfo(r.String(), r.Int()));

    private static void WriteRound(BinWriter w, RoundSummary h)
    {
        w.Int(h.Round); w.Int(h.Attempt); w.Double(h.Accuracy); w.Double(h.Loss); w.Int(h.Sampled); w.Int(h.Received); w.Int(h.Dropped);
        w.Int(h.Late); w.Double(h.Seconds); w.Double(h.UpdateNormMedian); w.Int(h.ModelVersion); w.Strings(h.Clients);
    }

    private static RoundSummary ReadRound(ref BinReader r) => new(
        r.Int(), r.Int(), r.Double(), r.Double(), r.Int(), r.Int(), r.Int(), r.Int(), r.Double(), r.Double(), r.Int(), r.Strings());
}
