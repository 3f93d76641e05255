using System.Diagnostics;
using EdgeActors.Learning.Models;
using EdgeActors.Client;
using EdgeActors.Messages;

namespace EdgeActors.Nodes.Hosting;

/// <summary>
/// Makes sure the cluster's registry holds the camera models the demo needs: the edge model and the datacenter's
/// larger escalation model. Trained once with the C# trainer and cached under <c>.data/models</c>; later runs
/// publish the cached files.
/// </summary>
public static class ModelBootstrap
{
    public sealed record Spec(string Name, int[] Layers, int Epochs);

    public static readonly Spec EdgeModel = new("fmnist-mlp", [784, 128, 10], 3);
    public static readonly Spec LargeModel = new("fmnist-large", [784, 256, 128, 10], 5);

    public static async Task EnsurePublishedAsync(EdgeClient client, string cacheDirectory, Action<string> log, params Spec[] specs)
    {
        var registered = await client.ListModelsAsync();
        foreach (var spec in specs)
        {
            if (registered.Models.Any(m => m.Name == spec.Name))
            {
                log($"model {spec.Name}: already registered");
                continue;
            }
            var path = Path.Combine(cacheDirectory, spec.Name + ".onnx");
            byte[] onnx;
            string description;
            if (File.Exists(path))
            {
                onnx = await File.ReadAllBytesAsync(path);
                description = $"MLP {string.Join("-", spec.Layers)} (cached {Path.GetFileName(path)})";
                log($"model {spec.Name}: using {path}");
            }
            else
            {
                log($"model {spec.Name}: training (first run only; cached in {cacheDirectory})");
                var trained = FashionTraining.Train(new FashionTraining.Options(spec.Name, spec.Layers, new SgdOptions(Epochs: spec.Epochs), path), null, s => log("  " + s));
                onnx = trained.Onnx;
                description = trained.Description;
            }
            var published = await client.PublishModelAsync(new PublishModel(spec.Name, onnx, [784], FashionLabels.Names, description));
            log($"model {spec.Name}: published v{published.Model.Version}");
        }
    }

    /// <summary>Waits until every given gateway node (host:port) reports the model loaded.</summary>
    public static async Task<bool> WaitUntilServedAsync(EdgeClient client, IEnumerable<string> gatewayNodes, string model, TimeSpan timeout, Action<string> log)
    {
        var sw = Stopwatch.StartNew();
        foreach (var node in gatewayNodes)
        {
            while (true)
            {
                InferenceStatus? status = null;
                try
                {
                    status = await client.GetInferenceStatusAsync(node);
                }
                catch (EdgeClientException)
                {
                }
                var loaded = status?.Models.FirstOrDefault(m => m.Name == model);
                if (loaded is { Version: > 0 })
                {
                    log($"  {node}: {model} v{loaded.Version} on {status!.Provider}");
                    break;
                }
                if (sw.Elapsed > timeout)
                {
                    log($"  {node}: {model} not loaded after {timeout.TotalSeconds:0}s{(loaded?.LastError is { Length: > 0 } e ? $" ({e})" : "")}");
                    return false;
                }
                await Task.Delay(300);
            }
        }
        return true;
    }
}
