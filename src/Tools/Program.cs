using EdgeActors.Tools;

return await ToolsCli.RunAsync(args);
