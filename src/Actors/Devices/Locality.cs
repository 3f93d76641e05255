using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Configuration;

namespace EdgeActors.Actors.Devices;

/// <summary>
/// Device locality. An edge node may have a <b>site</b> name (<c>edgeactors.node.site</c>, <c>--site</c>), published as
/// the cluster role <c>site:&lt;name&gt;</c>. A device whose id is <c>&lt;site&gt;/&lt;local-id&gt;</c> is <b>homed</b>
/// on that site: its shard is one of the site's own (<c>&lt;site&gt;:&lt;n&gt;</c>), which lives on the site's edge
/// whenever that edge is up. Any other device id is homeless and spread over the edges by hash as before.
/// </summary>
public static class Sites
{
    public const string RolePrefix = "site:";
    public const int MaxNameLength = 64;

    /// <summary>A site name: 1..64 of ASCII letters, digits, '-', '_' and '.'.</summary>
    public static bool IsValidName(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxNameLength) return false;
        foreach (var c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
                return false;
        return true;
    }

    public static string Role(string site) => RolePrefix + site;

    /// <summary>The site among a member's roles, or null.</summary>
    public static string? FromRoles(IEnumerable<string> roles)
    {
        foreach (var r in roles)
            if (r.StartsWith(RolePrefix, StringComparison.Ordinal) && r.Length > RolePrefix.Length)
                return r[RolePrefix.Length..];
        return null;
    }

    /// <summary>The home site of a device id <c>&lt;site&gt;/&lt;local-id&gt;</c> (non-empty local id); null for a homeless device.</summary>
    public static string? HomeOfDevice(string deviceId)
    {
        var slash = deviceId.IndexOf('/');
        if (slash <= 0 || slash == deviceId.Length - 1) return null;
        var site = deviceId[..slash];
        return IsValidName(site) ? site : null;
    }

    /// <summary>The home site of a shard id <c>&lt;site&gt;:&lt;n&gt;</c>; null for a homeless (plain number) shard.</summary>
    public static string? HomeOfShard(string shardId)
    {
        var colon = shardId.LastIndexOf(':');
        return colon <= 0 ? null : shardId[..colon];
    }
}

/// <summary>Typed locality settings bound from <c>edgeactors.locality</c>.</summary>
/// <remarks>
/// Restore batching (<see cref="DeviceRestorer"/>): starting entities are collected for <see cref="RestoreCollect"/>
/// into batches of at most <see cref="RestoreBatch"/> devices, each read with one outbox query and one datacenter query,
/// at most <see cref="RestoreInFlight"/> batches at a time; a batch's sources have <see cref="RestoreTimeout"/> to answer
/// once it is sent. <see cref="RestoreBackstop"/> is what an entity waits at most in all (queueing included) when the
/// restorer itself never answers.
/// </remarks>
public sealed record LocalitySettings(int ShardsPerSite, int RebalanceLimit, bool Restore, TimeSpan RestoreTimeout)
{
    /// <summary>How long a newly registered shard region is left out of balancing moves (see <see cref="HomeSiteAllocationStrategy"/>).</summary>
    public TimeSpan RebalanceWarmup { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Home shards as configured by default, and no state restore (what tests that build sharding directly get).</summary>
    public static readonly LocalitySettings Default = new(10, 10, false, TimeSpan.FromSeconds(2));

    /// <summary>Most devices one restore batch reads (1..<see cref="Messages.GetDevicesHistory.MaxDevices"/>).</summary>
    public int RestoreBatch { get; init; } = 256;

    /// <summary>How long the restorer collects requests before it sends a batch that is not full.</summary>
    public TimeSpan RestoreCollect { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Most restore batches in flight at once (the bound on concurrent restores is this × <see cref="RestoreBatch"/>).</summary>
    public int RestoreInFlight { get; init; } = 4;

    /// <summary>The longest an entity waits for its restore in all, queueing included (a restorer that never answers).</summary>
    public TimeSpan RestoreBackstop { get; init; } = TimeSpan.FromSeconds(60);

    public static LocalitySettings FromConfig(Config? section)
    {
        if (section is null || section.IsEmpty) return Default with { Restore = true };
        var perSite = section.GetInt("shards-per-site", Default.ShardsPerSite);
        if (perSite is < 1 or > 1000) throw new ArgumentException($"edgeactors.locality.shards-per-site must be in 1..1000, got {perSite}");
        var limit = section.GetInt("rebalance-limit", Default.RebalanceLimit);
        if (limit < 1) throw new ArgumentException($"edgeactors.locality.rebalance-limit must be >= 1, got {limit}");
        var restore = section.GetBoolean("restore", true);
        var timeout = section.GetTimeSpan("restore-timeout", Default.RestoreTimeout);
        if (timeout <= TimeSpan.Zero || timeout > TimeSpan.FromSeconds(30))
            throw new ArgumentException($"edgeactors.locality.restore-timeout must be in (0, 30s], got {timeout}");
        var batch = section.GetInt("restore-batch", Default.RestoreBatch);
        if (batch < 1 || batch > Messages.GetDevicesHistory.MaxDevices)
            throw new ArgumentException($"edgeactors.locality.restore-batch must be in 1..{Messages.GetDevicesHistory.MaxDevices}, got {batch}");
        var collect = section.GetTimeSpan("restore-collect", Default.RestoreCollect);
        if (collect < TimeSpan.Zero || collect > TimeSpan.FromSeconds(1))
            throw new ArgumentException($"edgeactors.locality.restore-collect must be in [0, 1s], got {collect}");
        var inFlight = section.GetInt("restore-in-flight", Default.RestoreInFlight);
        if (inFlight is < 1 or > 64) throw new ArgumentException($"edgeactors.locality.restore-in-flight must be in 1..64, got {inFlight}");
        var backstop = section.GetTimeSpan("restore-backstop", Default.RestoreBackstop);
        if (backstop < timeout || backstop > TimeSpan.FromMinutes(10))
            throw new ArgumentException($"edgeactors.locality.restore-backstop must be in [restore-timeout, 10min], got {backstop}");
        var warmup = section.GetTimeSpan("rebalance-warmup", Default.RebalanceWarmup);
        if (warmup < TimeSpan.Zero || warmup > TimeSpan.FromMinutes(10))
            throw new ArgumentException($"edgeactors.locality.rebalance-warmup must be in [0, 10min], got {warmup}");
        return new LocalitySettings(perSite, limit, restore, timeout)
            { RestoreBatch = batch, RestoreCollect = collect, RestoreInFlight = inFlight, RestoreBackstop = backstop, RebalanceWarmup = warmup };
    }
}

/// <summary>
/// Shard allocation keyed by home site. A home shard (<c>&lt;site&gt;:&lt;n&gt;</c>) is allocated to the region on the
/// node with role <c>site:&lt;site&gt;</c> when that region is registered, otherwise to the least-loaded region.
/// Rebalance returns every home shard that sits away from its home while the home region is registered (so devices
/// move back once their edge returns), and otherwise balances the movable shards (homeless ones, and home shards whose
/// home is absent) from the most- to the least-loaded region, at most <c>limit</c> per round and only when the two
/// differ by 2 shards or more (never back and forth). No balancing move happens while a region registered less than
/// <c>warmup</c> ago: a rebalanced shard is re-allocated to the least-loaded region, which is then the empty newcomer, so an
/// edge that just came back from a crash would otherwise take shards that had only just failed over from it (a device
/// moved twice in one failover); home shards still return at once (their devices wait for their home anyway).
/// </summary>
public sealed class HomeSiteAllocationStrategy : IShardAllocationStrategy
{
    private readonly Func<IActorRef, string?> _siteOf;
    private readonly int _limit;
    private readonly TimeSpan _warmup;
    private readonly Func<DateTime> _now;
    private readonly Dictionary<IActorRef, DateTime> _firstSeen = new();

    /// <param name="siteOf">The site of the node a region lives on (null: none or unknown).</param>
    /// <param name="limit">Most movable shards moved per rebalance round (home returns are not limited).</param>
    /// <param name="warmup">How long a newly registered region is left out of balancing (zero: at once).</param>
    /// <param name="now">The clock (tests).</param>
    public HomeSiteAllocationStrategy(Func<IActorRef, string?> siteOf, int limit, TimeSpan warmup = default, Func<DateTime>? now = null)
    {
        _siteOf = siteOf;
        _limit = Math.Max(1, limit);
        _warmup = warmup;
        _now = now ?? (() => DateTime.UtcNow);
    }

    /// <summary>Sites from the cluster membership: a region's address (local regions have none: this node's) → its member's site role.</summary>
    public static Func<IActorRef, string?> ClusterSites(ActorSystem system)
    {
        var cluster = Akka.Cluster.Cluster.Get(system);
        return region =>
        {
            var address = region.Path.Address;
            if (!address.HasGlobalScope) address = cluster.SelfAddress;
            foreach (var m in cluster.State.Members)
                if (m.Address.Equals(address))
                    return Sites.FromRoles(m.Roles);
            return null;
        };
    }

    public Task<IActorRef> AllocateShard(IActorRef requester, string shardId, IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations)
    {
        if (currentShardAllocations.Count == 0) return Task.FromResult(requester);
        var home = Sites.HomeOfShard(shardId);
        if (home is not null)
        {
            var homeRegion = RegionOf(home, currentShardAllocations.Keys);
            if (homeRegion is not null) return Task.FromResult(homeRegion);
        }
        return Task.FromResult(LeastLoaded(currentShardAllocations));
    }

    public Task<IImmutableSet<string>> Rebalance(IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations, IImmutableSet<string> rebalanceInProgress)
    {
        var warming = AnyRegionWarmingUp(currentShardAllocations.Keys); // every round: a region's age counts from when it first appears
        var sites = currentShardAllocations.Keys.ToDictionary(r => r, _siteOf);
        var present = sites.Values.Where(s => s is not null).ToHashSet();
        var result = ImmutableHashSet.CreateBuilder<string>();

        // 1. home shards away from a home that is present go back (all at once: at most shards-per-site per site)
        foreach (var (region, shards) in currentShardAllocations)
            foreach (var shard in shards)
            {
                var home = Sites.HomeOfShard(shard);
                if (home is not null && home != sites[region] && present.Contains(home) && !rebalanceInProgress.Contains(shard))
                    result.Add(shard);
            }
        if (result.Count > 0 || rebalanceInProgress.Count > 0 || currentShardAllocations.Count < 2)
            return Task.FromResult<IImmutableSet<string>>(result.ToImmutable());

        // 2. least-shard balancing of the movable shards, once every region has been registered for the warm-up
        if (warming) return Task.FromResult<IImmutableSet<string>>(result.ToImmutable());
        bool Movable(string shard) => Sites.HomeOfShard(shard) is not { } h || !present.Contains(h);
        var ordered = currentShardAllocations.OrderBy(kv => kv.Value.Count).ThenBy(kv => kv.Key.Path.ToString(), StringComparer.Ordinal).ToList();
        var least = ordered[0].Value.Count;
        var most = ordered[^1];
        var difference = most.Value.Count - least;
        if (difference < 2) return Task.FromResult<IImmutableSet<string>>(result.ToImmutable());
        foreach (var shard in most.Value.Where(Movable).Take(Math.Min(_limit, difference / 2)))
            result.Add(shard);
        return Task.FromResult<IImmutableSet<string>>(result.ToImmutable());
    }

    private bool AnyRegionWarmingUp(IEnumerable<IActorRef> regions)
    {
        var now = _now();
        var present = regions.ToHashSet();
        foreach (var gone in _firstSeen.Keys.Where(r => !present.Contains(r)).ToList()) _firstSeen.Remove(gone);
        var warming = false;
        foreach (var r in present)
        {
            if (!_firstSeen.TryGetValue(r, out var since)) _firstSeen[r] = since = now;
            if (now - since < _warmup) warming = true;
        }
        return warming;
    }

    private IActorRef? RegionOf(string site, IEnumerable<IActorRef> regions)
    {
        foreach (var r in regions)
            if (_siteOf(r) == site)
                return r;
        return null;
    }

    private static IActorRef LeastLoaded(IImmutableDictionary<IActorRef, IImmutableList<string>> allocations) =>
        allocations.OrderBy(kv => kv.Value.Count).ThenBy(kv => kv.Key.Path.ToString(), StringComparer.Ordinal).First().Key;
}
