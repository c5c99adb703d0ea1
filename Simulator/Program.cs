using Orleans.GoalGpt.Simulator;

// A TheSports-compatible provider for development, tests and benchmarks (see README, "Feed simulator").
var app = SimulatorHost.Build(args);
await app.RunAsync();
