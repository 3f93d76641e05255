namespace EdgeActors.Messages.Serialization;

/// <summary>Wire encoding of the federated-learning messages (part of <see cref="EdgeCodec"/>).</summary>
internal static class FederatedCodec
{
    public static readonly IReadOnlyDictionary<Type, string> Manifests = new Dictionary<Type, string>
    {
        [typeof(TrainingFrames)] = "tf",
        [typeof(TrainingFramesAck)] = "tk",
        [typeof(StartExperiment)] = "xs",
        [typeof(ExperimentAccepted)] = "xa",
        [typeof(ExperimentRejected)] = "xr",
        [typeof(GetExperimentStatus)] = "xg",
        [typeof(ExperimentStatus)] = "xt",
        [typeof(GetFederationStatus)] = "fg",
        [typeof(FederationStatus)] = "ft",
        [typeof(ParticipantHeartbeat)] = "ph",
        [typeof(TrainRound)] = "tr",
        [typeof(ClientUpdate)] = "cu",
        [typeof(MaskedClientUpdate)] = "cm",
        [typeof(ClientFailed)] = "cx",
        [typeof(MaskKeyRequest)] = "kq",
        [typeof(MaskKeys)] = "ky",
        [typeof(RevealMasks)] = "rq",
        [typeof(RevealedMasks)] = "rv",
        [typeof(StartKMeans)] = "km",
        [typeof(StartGbdt)] = "gb",
        [typeof(GetJobStatus)] = "jg",
        [typeof(JobStatus)] = "jt",
        [typeof(JobStep)] = "js",
        [typeof(JobStepReply)] = "jr",
    };

    public static void Write(BinWriter w, IEdgeMessage message)
    {
        switch (message)
        {
            case TrainingFrames t:
                w.String(t.DeviceId.Value); w.VarI(t.FirstSequence); w.Bytes(t.Pixels); w.Bytes(t.Labels);
                break;
            case TrainingFramesAck a:
                w.String(a.DeviceId.Value); w.VarI(a.NextSequence); w.Int(a.Accepted); w.Int(a.Duplicates); w.Int(a.Held); w.String(a.Node); w.String(a.Error);
                break;
            case StartExperiment s:
                WriteSpec(w, s.Spec);
                break;
            case ExperimentAccepted a:
                w.String(a.Id); w.Int(a.AvailableClients);
                break;
            case ExperimentRejected r:
                w.String(r.Id); w.String(r.Reason);
                break;
            case GetExperimentStatus g:
                w.String(g.Id);
                break;
            case ExperimentStatus s:
                w.String(s.Id); w.String(s.State); w.Int(s.Round); w.Int(s.Rounds); w.Int(s.Attempt); w.String(s.Detail);
                w.VarU((ulong)s.History.Length);
                foreach (var h in s.History) WriteRound(w, h);
                break;
            case GetFederationStatus:
                break;
            case FederationStatus f:
                w.VarU((ulong)f.Participants.Length);
                foreach (var p in f.Participants)
                {
                    w.String(p.Node); WriteClients(w, p.Clients); w.VarI(p.LastSeenMsAgo);
                }
                w.String(f.RunningExperiment);
                break;
            case ParticipantHeartbeat h:
                w.String(h.Node); WriteClients(w, h.Clients);
                break;
            case TrainRound t:
                w.String(t.ExperimentId); w.Int(t.Round); w.Int(t.Attempt); w.String(t.Model); w.Floats(t.Global);
                WriteTraining(w, t.Training);
                w.Strings(t.Clients); w.Strings(t.MaskPeers); w.ByteArrays(t.MaskKeys);
                break;
            case ClientUpdate u:
                w.String(u.ExperimentId); w.Int(u.Round); w.Int(u.Attempt); w.String(u.ClientId); w.Int(u.Samples); w.Float(u.Loss); w.Floats(u.Delta);
                break;
            case MaskedClientUpdate u:
                w.String(u.ExperimentId); w.Int(u.Round); w.Int(u.Attempt); w.String(u.ClientId); w.Int(u.Samples); w.Float(u.Loss); w.ULongs(u.Masked);
                break;
            case ClientFailed f:
                w.String(f.ExperimentId); w.Int(f.Round); w.Int(f.Attempt); w.String(f.ClientId); w.String(f.Reason);
                break;
            case MaskKeyRequest k:
                w.String(k.ExperimentId); w.Int(k.Round); w.Int(k.Attempt); w.Strings(k.Clients);
                break;
            case MaskKeys k:
                w.String(k.ExperimentId); w.Int(k.Round); w.Int(k.Attempt); w.Strings(k.Clients); w.ByteArrays(k.PublicKeys);
                break;
            case RevealMasks r:
                w.String(r.ExperimentId); w.Int(r.Round); w.Int(r.Attempt); w.Strings(r.Survivors); w.Strings(r.Dropped);
                break;
            case RevealedMasks r:
                w.String(r.ExperimentId); w.Int(r.Round); w.Int(r.Attempt); w.Strings(r.Survivors); w.Strings(r.Dropped); w.ByteArrays(r.Seeds);
                break;
            case StartKMeans k:
                w.String(k.Id); w.Int(k.K); w.Int(k.Iterations); w.Double(k.OutlierZ); w.Int(k.Seed);
                break;
            case StartGbdt g:
                w.String(g.Id); w.Int(g.Classes); w.Int(g.Iterations); w.Int(g.MaxDepth); w.Float(g.LearningRate); w.Int(g.MaxBins);
                w.Double(g.Lambda); w.Int(g.BinaryThreshold); w.String(g.PublishAs);
                break;
            case GetJobStatus g:
                w.String(g.Id);
                break;
            case JobStatus j:
                w.String(j.Id); w.String(j.Kind); w.String(j.State); w.String(j.Detail); w.Strings(j.ResultKeys); w.Doubles(j.ResultValues); w.Strings(j.Lines);
                break;
            case JobStep s:
                w.String(s.JobId); w.String(s.Kind); w.Int(s.Step); w.Bytes(s.Payload);
                break;
            case JobStepReply r:
                w.String(r.JobId); w.Int(r.Step); w.String(r.Node); w.Bytes(r.Payload); w.String(r.Error);
                break;
            default:
                throw new ArgumentException($"FederatedCodec cannot write {message.GetType().FullName}");
        }
    }

    public static object? Read(string manifest, ref BinReader r) => manifest switch
    {
        "tf" => new TrainingFrames(new DeviceId(r.String()), r.VarI(), r.Bytes(), r.Bytes()),
        "tk" => new TrainingFramesAck(new DeviceId(r.String()), r.VarI(), r.Int(), r.Int(), r.Int(), r.String(), r.String()),
        "xs" => new StartExperiment(ReadSpec(ref r)),
        "xa" => new ExperimentAccepted(r.String(), r.Int()),
        "xr" => new ExperimentRejected(r.String(), r.String()),
        "xg" => new GetExperimentStatus(r.String()),
        "xt" => ReadStatus(ref r),
        "fg" => GetFederationStatus.Instance,
        "ft" => ReadFederationStatus(ref r),
        "ph" => new ParticipantHeartbeat(r.String(), ReadClients(ref r)),
        "tr" => new TrainRound(r.String(), r.Int(), r.Int(), r.String(), r.Floats(), ReadTraining(ref r), r.Strings(), r.Strings(), r.ByteArrays()),
        "cu" => new ClientUpdate(r.String(), r.Int(), r.Int(), r.String(), r.Int(), r.Float(), r.Floats()),
        "cm" => new MaskedClientUpdate(r.String(), r.Int(), r.Int(), r.String(), r.Int(), r.Float(), r.ULongs()),
        "cx" => new ClientFailed(r.String(), r.Int(), r.Int(), r.String(), r.String()),
        "kq" => new MaskKeyRequest(r.String(), r.Int(), r.Int(), r.Strings()),
        "ky" => new MaskKeys(r.String(), r.Int(), r.Int(), r.Strings(), r.ByteArrays()),
        "rq" => new RevealMasks(r.String(), r.Int(), r.Int(), r.Strings(), r.Strings()),
        "rv" => new RevealedMasks(r.String(), r.Int(), r.Int(), r.Strings(), r.Strings(), r.ByteArrays()),
        "km" => new StartKMeans(r.String(), r.Int(), r.Int(), r.Double(), r.Int()),
        "gb" => new StartGbdt(r.String(), r.Int(), r.Int(), r.Int(), r.Float(), r.Int(), r.Double(), r.Int(), r.String()),
        "jg" => new GetJobStatus(r.String()),
        "jt" => new JobStatus(r.String(), r.String(), r.String(), r.String(), r.Strings(), r.Doubles(), r.Strings()),
        "js" => new JobStep(r.String(), r.String(), r.Int(), r.Bytes()),
        "jr" => new JobStepReply(r.String(), r.Int(), r.String(), r.Bytes(), r.String()),
        _ => null,
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

    private static void WriteClients(BinWriter w, ClientInfo[] clients)
    {
        w.VarU((ulong)clients.Length);
        foreach (var c in clients)
        {
            w.String(c.ClientId); w.Int(c.Samples);
        }
    }

    private static ClientInfo[] ReadClients(ref BinReader r)
    {
        var n = r.Count(2);
        var result = new ClientInfo[n];
        for (var i = 0; i < n; i++) result[i] = new ClientInfo(r.String(), r.Int());
        return result;
    }

    private static void WriteRound(BinWriter w, RoundSummary h)
    {
        w.Int(h.Round); w.Int(h.Attempt); w.Double(h.Accuracy); w.Double(h.Loss); w.Int(h.Sampled); w.Int(h.Received); w.Int(h.Dropped);
        w.Int(h.Late); w.Double(h.Seconds); w.Double(h.UpdateNormMedian); w.Int(h.ModelVersion); w.Strings(h.Clients);
    }

    private static RoundSummary ReadRound(ref BinReader r) => new(
        r.Int(), r.Int(), r.Double(), r.Double(), r.Int(), r.Int(), r.Int(), r.Int(), r.Double(), r.Double(), r.Int(), r.Strings());

    private static ExperimentStatus ReadStatus(ref BinReader r)
    {
        var id = r.String();
        var state = r.String();
        var round = r.Int();
        var rounds = r.Int();
        var attempt = r.Int();
        var detail = r.String();
        var n = r.Count(8);
        var history = new RoundSummary[n];
        for (var i = 0; i < n; i++) history[i] = ReadRound(ref r);
        return new ExperimentStatus(id, state, round, rounds, attempt, detail, history);
    }

    private static FederationStatus ReadFederationStatus(ref BinReader r)
    {
        var n = r.Count(3);
        var participants = new ParticipantInfo[n];
        for (var i = 0; i < n; i++) participants[i] = new ParticipantInfo(r.String(), ReadClients(ref r), r.VarI());
        return new FederationStatus(participants, r.String());
    }
}
