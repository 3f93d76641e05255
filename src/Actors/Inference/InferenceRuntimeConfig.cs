using Akka.Configuration;
using EdgeActors.Inference.Runtime;

namespace EdgeActors.Actors.Inference;

/// <summary>
/// Binds the Akka-free ONNX Runtime settings (EdgeActors.Inference.Runtime) from HOCON
/// <c>edgeactors.inference.runtime</c>: <c>InferenceRuntimeSettings.FromConfig(section)</c>.
/// </summary>
public static class InferenceRuntimeConfig
{
    extension(InferenceRuntimeSettings)
    {
        public static InferenceRuntimeSettings FromConfig(Config? section)
        {
            if (section is null || section.IsEmpty) return InferenceRuntimeSettings.Default;
            var s = new InferenceRuntimeSettings
            {
                UseCuda = Read("use-cuda", () => section.GetBoolean("use-cuda", true)),
                CudaDeviceId = Read("cuda-device-id", () => section.GetInt("cuda-device-id", 0)),
                IntraOpThreads = Read("intra-op-threads", () => section.GetInt("intra-op-threads", InferenceRuntimeSettings.Default.IntraOpThreads)),
                PinnedIo = Read("pinned-io", () => section.GetBoolean("pinned-io", true)),
                CudnnConvAlgoSearch = Read("cudnn-conv-algo-search", () => section.GetString("cudnn-conv-algo-search", "EXHAUSTIVE")),
                CudaGraphs = Read("cuda-graphs", () => section.GetBoolean("cuda-graphs", false)),
                Fp16 = Read("fp16", () => section.GetBoolean("fp16", false)),
                ByteInputModels = Read("byte-input-models", () => section.HasPath("byte-input-models") ? section.GetStringList("byte-input-models").ToArray() : []),
                CudaProviderOptions = Read("cuda-provider-options", () => section.HasPath("cuda-provider-options")
                    ? section.GetConfig("cuda-provider-options").AsEnumerable().ToDictionary(kv => kv.Key, kv => kv.Value.GetString())
                    : new Dictionary<string, string>()),
                Recovery = SessionRecoverySettings.FromConfig(section),
                FaultInjection = FaultInjectionSettings.FromConfig(section),
            };
            if (s.CudaDeviceId < 0) throw new ArgumentException($"{InferenceRuntimeSettings.Section}.cuda-device-id must be >= 0, got {s.CudaDeviceId}");
            if (s.IntraOpThreads < 0) throw new ArgumentException($"{InferenceRuntimeSettings.Section}.intra-op-threads must be >= 0, got {s.IntraOpThreads}");
            if (s.CudnnConvAlgoSearch is not ("EXHAUSTIVE" or "HEURISTIC" or "DEFAULT"))
                throw new ArgumentException($"{InferenceRuntimeSettings.Section}.cudnn-conv-algo-search must be EXHAUSTIVE, HEURISTIC or DEFAULT, got {s.CudnnConvAlgoSearch}");
            return s;
        }
    }

    internal static T Read<T>(string key, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception ex) when (ex is not ArgumentException)
        {
            throw new ArgumentException($"{InferenceRuntimeSettings.Section}.{key} cannot be read: {ex.Message}", ex);
        }
    }
}

/// <summary>Binds <see cref="SessionRecoverySettings"/> from <c>edgeactors.inference.runtime.session-recovery</c>.</summary>
public static class SessionRecoveryConfig
{
    extension(SessionRecoverySettings)
    {
        public static SessionRecoverySettings FromConfig(Config runtime)
        {
            const string p = "session-recovery.";
            var d = SessionRecoverySettings.Default;
            var s = new SessionRecoverySettings
            {
                FallbackAfter = InferenceRuntimeConfig.Read(p + "fallback-after", () => runtime.GetInt(p + "fallback-after", d.FallbackAfter)),
                RetryMin = InferenceRuntimeConfig.Read(p + "retry-backoff-min", () => runtime.GetTimeSpan(p + "retry-backoff-min", d.RetryMin)),
                RetryMax = InferenceRuntimeConfig.Read(p + "retry-backoff-max", () => runtime.GetTimeSpan(p + "retry-backoff-max", d.RetryMax)),
            };
            return s.Validate();
        }
    }
}

/// <summary>Binds <see cref="FaultInjectionSettings"/> from <c>edgeactors.inference.runtime.fault-injection</c>.</summary>
public static class FaultInjectionConfig
{
    extension(FaultInjectionSettings)
    {
        public static FaultInjectionSettings FromConfig(Config runtime)
        {
            const string p = "fault-injection.";
            var d = FaultInjectionSettings.Off;
            var s = new FaultInjectionSettings
            {
                FailureProbability = InferenceRuntimeConfig.Read(p + "failure-probability", () => runtime.GetDouble(p + "failure-probability", 0)),
                Seed = InferenceRuntimeConfig.Read(p + "seed", () => runtime.GetInt(p + "seed", d.Seed)),
                Kinds = InferenceRuntimeConfig.Read(p + "kinds", () => runtime.HasPath(p + "kinds")
                    ? runtime.GetStringList(p + "kinds").Select(ParseKind).ToArray()
                    : d.Kinds),
                Limit = InferenceRuntimeConfig.Read(p + "limit", () => runtime.GetInt(p + "limit", 0)),
            };
            return s.Validate();
        }
    }

    private static InjectedFault ParseKind(string kind) => kind.Trim().ToLowerInvariant() switch
    {
        "error" => InjectedFault.Error,
        "out-of-memory" => InjectedFault.OutOfMemory,
        "corrupt" => InjectedFault.Corrupt,
        _ => throw new ArgumentException(
            $"{InferenceRuntimeSettings.Section}.fault-injection.kinds: unknown kind '{kind}' (error, out-of-memory, corrupt)"),
    };
}
