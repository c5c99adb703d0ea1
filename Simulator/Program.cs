using Orleans.GoalGpt.Operations;
using Orleans.GoalGpt.Simulator;

// A TheSports-compatible provider for development, tests and benchmarks (see README, "Feed simulator").
// `healthcheck`: the container healthcheck (the runtime image has no wget/curl): 0 when /sim/health answers.
if (args is ["healthcheck", ..])
{
    var configuration = SimulatorHost.AddProcessConfiguration(new ConfigurationBuilder(), args[1..]).Build();
    return await HostUrls.ProbeAsync(configuration, SimulatorHost.LocalUrls, "/sim/health");
}

var app = SimulatorHost.Build(args);
await app.RunAsync();
return 0;
