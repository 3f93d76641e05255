using EdgeActors.Storage;
using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using EdgeActors.Actors.Registry;
using EdgeActors.Messages;
using EdgeActors.Learning.Federated;

namespace EdgeActors.Actors.Federated;

public static class FederationRegistration
{
    /// <summary>
    /// The round coordinator: a cluster singleton on the datacenter role (hosted where <paramref name="hostSingleton"/>,
    /// with a proxy everywhere). Call after <c>AddModelRegistry</c> (new global models are published through it).
    /// <paramref name="evaluation"/> loads the held-out data global models are scored on (called once, lazily, off the mailbox).
    /// </summary>
    public static AkkaConfigurationBuilder AddFederatedCoordinator(
        this AkkaConfigurationBuilder builder, FederationSettings settings, Func<EvaluationSet?> evaluation, bool hostSingleton,
        SecAggCredentials? secAgg = null)
    {
        var options = new ClusterSingletonOptions { Role = Roles.Datacenter };
        return hostSingleton
            ? builder.WithSingleton<RoundCoordinator>(RoundCoordinator.Name, (_, registry, _) =>
                RoundCoordinator.Props(settings, settings.OpenStore(), evaluation,
                    // optional: without a model registry new global models are kept but not published (tests compose it alone)
                    registry.TryGet<ModelRegistryKey>(out var r) ? r : null, secAgg), options, createProxyToo: true)
            : builder.WithSingletonProxy<RoundCoordinator>(RoundCoordinator.Name, options);
    }

    /// <summary>The edge node's federated worker over the node's <see cref="LocalTrainingSet"/> (call after AddFederatedCoordinator).</summary>
    public static AkkaConfigurationBuilder AddFederatedWorker(this AkkaConfigurationBuilder builder, LocalTrainingSet data, FederationSettings settings,
        SecAggCredentials? secAgg = null) =>
        builder.WithActors((system, registry) =>
        {
            var worker = system.ActorOf(FederatedWorker.Props(data, registry.Require<RoundCoordinator>("AddFederatedWorker", "AddFederatedCoordinator"), settings, secAgg), FederatedWorker.Name);
            registry.Register<FederatedWorker>(worker);
        });
}
