using EdgeActors.Actors.Security;
using EdgeActors.Client;
using EdgeActors.Client.Security;
using EdgeActors.Nodes.Hosting;

namespace EdgeActors.Nodes.Commands;

/// <summary><c>edgeactors certs --out DIR [--nodes a,b] [--clients app:ingest+query,…] [--force]</c></summary>
public static class CertsCommand
{
    public const string Usage = """
        edgeactors certs --out DIR [--nodes name,...] [--clients name[:scope+scope...],...] [--days N] [--token-days N] [--force]
          Makes a new deployment's security material with .NET's own cryptography (ECDSA P-256, no openssl):
            DIR/ca.crt               the deployment's CA certificate: every node and client trusts only it
            DIR/ca.key               the CA's private key (keep it offline; needed to add certificates later)
            DIR/nodes/NAME.pfx       one certificate per node (default nodes: seed,datacenter,edge1,edge2)
            DIR/clients/NAME.pfx     one certificate per client app (default client: client, all scopes)
            DIR/clients/NAME.token   the client's signed token (scopes ingest, query, infer, admin, federate)
            DIR/token.key            the key that signs client tokens (gateway nodes only)
          Private files are written mode 0600. An existing CA is kept (new names are added with it) unless --force,
          which replaces the CA and everything it issued. --days: certificate validity (default 825); --token-days:
          token validity (default: the certificate's).
          Use: edgeactors node ... --certs DIR --cert-name NAME; clients: edgeactors simulate ... --certs DIR --client NAME.
        """;

    public static int Run(CliArgs args)
    {
        var dir = args.Get("out") ?? throw new CliException("--out DIR is required (where the CA, certificates and tokens go)");
        var nodes = Hosting.NodeConfig.SplitList(args.Get("nodes")) ?? ["seed", "datacenter", "edge1", "edge2"];
        var clients = (Hosting.NodeConfig.SplitList(args.Get("clients")) ?? ["client"]).Select(ParseClient).ToList();
        var days = args.Int("days", 825);
        var tokenDays = args.Int("token-days", days);
        var force = args.Flag("force");
        args.EnsureAllUsed();
        if (days < 1) throw new CliException("--days must be at least 1");
        if (tokenDays < 1) throw new CliException("--token-days must be at least 1");
        var full = Path.GetFullPath(dir);
        var existing = File.Exists(Path.Combine(full, Certificates.CaCertificateFile));
        if (existing && !force && !File.Exists(Path.Combine(full, Certificates.CaKeyFile)))
            throw new CliException($"{full} holds a CA without its key ({Certificates.CaKeyFile}); cannot add certificates (use --force to make a new CA)");
        if (existing && !force)
            Console.WriteLine($"certs: {full} already holds a CA; keeping it and adding what is missing (--force replaces the CA and everything it issued)");
        var made = Certificates.Ensure(full, nodes, clients, replace: force, TimeSpan.FromDays(days), TimeSpan.FromDays(tokenDays));
        foreach (var m in made) Console.WriteLine($"certs: wrote {m.Path}  ({m.What})");
        if (made.Count == 0) Console.WriteLine("certs: nothing to do (every node and client already has its files)");
        var firstNode = nodes.Count > 0 ? nodes[0] : "NAME";
        var firstClient = clients.Count > 0 ? clients[0].Name : "NAME";
        Console.WriteLine($"""
            certs: use them:
              nodes:   edgeactors node --roles ... --certs {full} --cert-name {firstNode}
                       (copy ca.crt, nodes/<name>.pfx and, on edge and datacenter nodes, token.key; never ca.key)
              clients: edgeactors simulate --contacts ... --certs {full} --client {firstClient}
                       (a client needs ca.crt, clients/<name>.pfx and clients/<name>.token)
            """);
        return 0;
    }

    /// <summary><c>name</c> (all scopes) or <c>name:ingest+query</c>.</summary>
    public static (string Name, string[] Scopes) ParseClient(string spec)
    {
        var parts = spec.Split(':', 2);
        var scopes = parts.Length == 1 ? ClientTokens.Scopes.ToArray() : parts[1].Split('+', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var s in scopes)
            if (!ClientTokens.Scopes.Contains(s))
                throw new CliException($"--clients: unknown scope '{s}' for '{parts[0]}'; scopes are {string.Join(", ", ClientTokens.Scopes)}");
        return (parts[0], scopes);
    }

    /// <summary>A client command's credentials: <c>--certs DIR [--client NAME]</c>, or just <c>--token-file F</c>; null: none.</summary>
    public static ClientCredentials? ClientCredentialsFrom(CliArgs args)
    {
        var dir = args.Get("certs");
        var name = args.Get("client");
        var tokenFile = args.Get("token-file");
        if (dir is null)
        {
            if (name is not null) throw new CliException("--client NAME needs --certs DIR");
            return tokenFile is null ? null : new ClientCredentials { Token = ClientCredentials.ReadToken(tokenFile) };
        }
        var c = ClientCredentials.FromCertsDirectory(Path.GetFullPath(dir), name ?? "client");
        return tokenFile is null ? c : c with { Token = ClientCredentials.ReadToken(tokenFile) };
    }

    public const string ClientOptionsUsage = "  --certs DIR [--client NAME] [--token-file F]: the client's certificate and token (TLS cluster with client tokens)";
}
