using EdgeActors.Nodes;
using EdgeActors.Nodes.Commands;

return await Cli.RunAsync(args);
