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
            },
            static (ref BinReader r) => new ExperimentStatus(r.String(), r.String(), r.Int(), r.Int(), r.Int(), r.String(), r.Array(8, ReadRound))
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
            },
            static (ref BinReader r) =>
                new TrainRound(r.String(), r.Int(), r.Int(), r.String(), r.Floats(), ReadTraining(ref r), r.Strings(), r.Strings(), r.ByteArrays())
        },
        {
            "cu", static (w, u) =>
            {
                w.String(u.ExperimentId); w.Int(u.Round); w.Int(u.Attempt); w.String(u.ClientId); w.Int(u.Samples); w.Float(u.Loss);
                w.Floats(u.Delta);
            },
            static (ref BinReader r) => new ClientUpdate(r.String(), r.Int(), r.Int(), r.String(), r.Int(), r.Float(), r.Floats())
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
    }

    private static ExperimentSpec ReadSpec(ref BinReader r) => new(
        r.String(), r.String(), r.String(), r.Int(), r.Double(), r.Int(), r.Int(), r.Int(), r.Float(), r.Float(), r.Float(),
        r.Float(), r.Int(), r.VarI(), r.Double(), r.String(), r.Int(), r.Double(), r.Double(), r.Bool(), r.Strings(), r.Float(),
        r.Double(), r.Int(), r.String());

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
