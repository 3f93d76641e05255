using System.CommandLine;
using EdgeActors.Actors.Security;
using EdgeActors.Client;
using EdgeActors.Client.Security;
using EdgeActors.Nodes.Hosting;

namespace EdgeActors.Nodes.Commands;

/// <summary><c>edgeactors certs --out DIR [--nodes a,b] [--clients app:ingest+query,…] [--force]</c></summary>
public static class CertsCommand
{
    private static readonly Option<string?> Out = CliOptions.Text("--out", "where the CA, certificates and tokens go (required)", "DIR");
    private static readonly Option<string[]?> Nodes = CliOptions.List("--nodes", "node names (default seed,datacenter,edge1,edge2)", "NAME,...");
    private static readonly Option<string[]?> Clients = CliOptions.List("--clients", "client apps, each with its scopes (ingest, query, infer, admin, federate; default all): default client", "NAME[:SCOPE+SCOPE],...");
    private static readonly Option<int> Days = CliOptions.Int("--days", 825, "certificate validity in days");
    private static readonly Option<int?> TokenDays = new("--token-days") { Description = "token validity in days (default: the certificates')", HelpName = "N" };
    private static readonly Option<bool> Force = CliOptions.Flag("--force", "replace the CA and everything it issued (an existing CA is otherwise kept and new names added with it)");

    public static Command Create() => Cli.Command("certs",
        "a new deployment's CA, node and client certificates, client tokens (TLS, client auth)\n" + Details,
        [Out, Nodes, Clients, Days, TokenDays, Force], r => Task.FromResult(Run(r)));

    private const string Details = """
        Makes a new deployment's security material with .NET's own cryptography (ECDSA P-256, no openssl):
          DIR/ca.crt               the deployment's CA certificate: every node and client trusts only it
          DIR/ca.key               the CA's private key (keep it offline; needed to add certificates later)
          DIR/nodes/NAME.pfx       one certificate per node
          DIR/clients/NAME.pfx     one certificate per client app
          DIR/clients/NAME.token   the client's signed token
          DIR/token.key            the key that signs client tokens (gateway nodes only)
        Private files are written mode 0600.
        Use: edgeactors node ... --certs DIR --cert-name NAME; clients: edgeactors simulate ... --certs DIR --client NAME.
        """;

    private static int Run(ParseResult args)
    {
        var dir = args.GetValue(Out) ?? throw new CliException("--out DIR is required (where the CA, certificates and tokens go)");
        IReadOnlyList<string> nodes = args.GetValue(Nodes) ?? ["seed", "datacenter", "edge1", "edge2"];
        var clients = (args.GetValue(Clients) ?? ["client"]).Select(ParseClient).ToList();
        var days = args.GetValue(Days);
        var tokenDays = args.GetValue(TokenDays) ?? days;
        var force = args.GetValue(Force);
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

    /// <summary>A client command's credentials: <c>--certs DIR [--client NAME]</c>, or just <c>--token-file F</c>.</summary>
    public sealed class ClientOptions
    {
        public readonly Option<string?> Certs = CliOptions.Text("--certs", "the deployment's certificates (made by 'edgeactors certs'): TLS with the client's certificate and token", "DIR");
        public readonly Option<string?> Client = CliOptions.Text("--client", "the client's name under --certs (default client)", "NAME");
        public readonly Option<string?> TokenFile = CliOptions.Text("--token-file", "the client's token from this file (alone: a plain-TCP cluster with client tokens)", "FILE");

        public IEnumerable<Option> All => [Certs, Client, TokenFile];

        /// <summary>null: none.</summary>
        public ClientCredentials? From(ParseResult args)
        {
            var dir = args.GetValue(Certs);
            var name = args.GetValue(Client);
            var tokenFile = args.GetValue(TokenFile);
            if (dir is null)
            {
                if (name is not null) throw new CliException("--client NAME needs --certs DIR");
                return tokenFile is null ? null : new ClientCredentials { Token = ClientCredentials.ReadToken(tokenFile) };
            }
            var c = ClientCredentials.FromCertsDirectory(Path.GetFullPath(dir), name ?? "client");
            return tokenFile is null ? c : c with { Token = ClientCredentials.ReadToken(tokenFile) };
        }
    }
}
