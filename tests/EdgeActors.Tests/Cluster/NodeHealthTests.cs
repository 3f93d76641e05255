using EdgeActors.Nodes.Hosting;

namespace EdgeActors.Tests.Cluster;

public sealed class NodeHealthTests
{
    [Fact]
    public void NotJoined_should_judge_member_and_shard_region_only()
    {
        // joined, model not loaded yet: joined (LocalCluster waits for formation, not for models)
        Assert.Null(NodeHealth.NotJoined("""{"ready":false,"checks":[{"name":"member","ok":true,"detail":"Up"},{"name":"shard-region","ok":true,"detail":"x"},{"name":"models","ok":false,"detail":"none loaded"}],"notReady":["models: none loaded"]}"""));
        // a seed: member only
        Assert.Null(NodeHealth.NotJoined("""{"ready":true,"checks":[{"name":"member","ok":true,"detail":"Up"}],"notReady":[]}"""));
        Assert.Equal("shard-region: not registered", NodeHealth.NotJoined("""{"ready":false,"checks":[{"name":"member","ok":true,"detail":"Up"},{"name":"shard-region","ok":false,"detail":"not registered"}]}"""));
        Assert.Equal("member: Joining", NodeHealth.NotJoined("""{"ready":false,"checks":[{"name":"member","ok":false,"detail":"Joining"}]}"""));
        Assert.NotNull(NodeHealth.NotJoined("""{"ready":true,"checks":[]}"""));
        Assert.NotNull(NodeHealth.NotJoined("<html>502</html>"));
    }
}
