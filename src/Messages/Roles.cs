namespace EdgeActors.Messages;

/// <summary>Cluster role names. A node may hold several.</summary>
public static class Roles
{
    public const string Seed = "seed";
    public const string Edge = "edge";
    public const string Datacenter = "datacenter";

    /// <summary>Added to edge and datacenter nodes: they run a client gateway behind the ClusterClient receptionist.</summary>
    public const string Gateway = "gateway";

    public static readonly IReadOnlyList<string> UserRoles = [Seed, Edge, Datacenter];

    public static bool IsUserRole(string role) => UserRoles.Contains(role);
}
