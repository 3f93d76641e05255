using EdgeActors.Messages;
using Grpc.Core;
using V2 = global::Inference;

namespace EdgeActors.Http.Kserve;

/// <summary>
/// The KServe v2 gRPC service (<c>inference.GRPCInferenceService</c> of the published grpc_predict_v2.proto) over the
/// same backend as REST. Refusals: Overloaded → RESOURCE_EXHAUSTED, bad input → INVALID_ARGUMENT, unknown model →
/// NOT_FOUND, token → UNAUTHENTICATED / PERMISSION_DENIED, each with a message.
/// </summary>
internal sealed class KserveGrpcService(KserveBackend backend, HttpAuth auth, HttpSettings settings) : V2.GRPCInferenceService.GRPCInferenceServiceBase
{
    private static RpcException ToRpc(HttpProblem p) => new(new Status(p.Status switch
    {
        400 => StatusCode.InvalidArgument,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.NotFound,
        413 => StatusCode.ResourceExhausted,
        503 => StatusCode.ResourceExhausted,
        504 => StatusCode.DeadlineExceeded,
        _ => StatusCode.Internal,
    }, p.Message));

    private static async Task<T> Guard<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (HttpProblem p)
        {
            throw ToRpc(p);
        }
    }

    private void Check(ServerCallContext ctx, IEdgeMessage request) =>
        auth.Check(ctx.RequestHeaders.GetValue("authorization"), request);

    public override Task<V2.ServerLiveResponse> ServerLive(V2.ServerLiveRequest request, ServerCallContext context) =>
        Task.FromResult(new V2.ServerLiveResponse { Live = true });

    public override Task<V2.ServerReadyResponse> ServerReady(V2.ServerReadyRequest request, ServerCallContext context) =>
        Guard(async () => new V2.ServerReadyResponse { Ready = (await backend.ModelsAsync()).Values.Any(m => m.Loaded) });

    public override Task<V2.ModelReadyResponse> ModelReady(V2.ModelReadyRequest request, ServerCallContext context) =>
        Guard(async () =>
        {
            Check(context, ListModels.Instance);
            return new V2.ModelReadyResponse { Ready = (await backend.ModelAsync(request.Name, request.Version)).Loaded };
        });

    public override Task<V2.ServerMetadataResponse> ServerMetadata(V2.ServerMetadataRequest request, ServerCallContext context) =>
        Guard(() =>
        {
            Check(context, ListModels.Instance);
            return Task.FromResult(new V2.ServerMetadataResponse { Name = "edgeactors", Version = KserveEndpoints.ServerVersion });
        });

    public override Task<V2.ModelMetadataResponse> ModelMetadata(V2.ModelMetadataRequest request, ServerCallContext context) =>
        Guard(async () =>
        {
            Check(context, ListModels.Instance);
            var m = (await backend.ModelAsync(request.Name, request.Version)).Signature;
            var response = new V2.ModelMetadataResponse { Name = m.Name, Platform = "onnxruntime_onnx" };
            response.Versions.Add(m.Versions.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            response.Inputs.Add(Meta(ModelSignature.InputName, "FP32", [-1, .. m.InputShape.Select(d => (long)d)]));
            response.Outputs.Add(Meta(ModelSignature.Probabilities, "FP32", [-1, m.Labels.Length]));
            response.Outputs.Add(Meta(ModelSignature.Class, "INT64", [-1]));
            response.Outputs.Add(Meta(ModelSignature.Label, "BYTES", [-1]));
            return response;
        });

    private static V2.ModelMetadataResponse.Types.TensorMetadata Meta(string name, string datatype, long[] shape)
    {
        var t = new V2.ModelMetadataResponse.Types.TensorMetadata { Name = name, Datatype = datatype };
        t.Shape.Add(shape);
        return t;
    }

    public override Task<V2.ModelInferResponse> ModelInfer(V2.ModelInferRequest request, ServerCallContext context) =>
        Guard(async () =>
        {
            Check(context, new Infer(request.ModelName, 0, 0, [], InferencePriority.Normal));
            if (request.CalculateSize() > settings.MaxRequestBytes)
                throw HttpProblem.TooLarge($"request of {request.CalculateSize()} bytes is larger than this node's limit of {settings.MaxRequestBytes} bytes");
            var served = await backend.ModelAsync(request.ModelName, request.ModelVersion);
            var batch = KserveTensors.FromGrpc(request, served.Signature);
            var result = await backend.InferAsync(served.Signature, batch, context.CancellationToken);
            return KserveTensors.ToGrpc(served.Signature, batch, result);
        });
}
