using Akka.Hosting;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Registry;
using EdgeActors.Actors.Sync;
using EdgeActors.Http;
using Microsoft.AspNetCore.Builder;

namespace EdgeActors.Tests.Http;

/// <summary>The health checks resolve what they ask at start: a dependency the node's roles need fails the start, named.</summary>
public sealed class HealthDependenciesTests : Akka.TestKit.Xunit2.TestKit
{
    private ActorRegistry Gateway()
    {
        var registry = new ActorRegistry();
        registry.Register<DeviceRegion>(CreateTestProbe().Ref);
        registry.Register<ModelHostKey>(CreateTestProbe().Ref);
        registry.Register<ModelRegistryKey>(CreateTestProbe().Ref);
        return registry;
    }

    private static HttpHostOptions Options(bool outbox, bool store) =>
        new(HttpSettings.FromConfig(null), null, null, Gateway: true, MaxDeviceIdLength: 128, HostsEntities: !store, HasOutbox: outbox, HasStore: store);

    [Theory]
    [InlineData(true, false, "AddOutbox")]
    [InlineData(false, true, "AddSyncSink")]
    public void Health_should_fail_the_start_naming_a_store_the_node_needs_but_lacks(bool outbox, bool store, string registration)
    {
        var app = WebApplication.CreateBuilder().Build();
        var ex = Assert.ThrowsAny<Exception>(() => app.MapHealth(Sys, Gateway(), Options(outbox, store)));
        Assert.Contains(registration, ex.Message);
    }

    [Fact]
    public void Health_should_start_without_an_outbox_on_an_edge_that_runs_without_one()
    {
        var app = WebApplication.CreateBuilder().Build();
        app.MapHealth(Sys, Gateway(), Options(outbox: false, store: false));
    }
}
