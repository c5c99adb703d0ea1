using Orleans.GoalGpt.Operations;
using Orleans.GoalGpt.Simulator.Feed;
using Orleans.GoalGpt.Simulator.Model;

namespace Orleans.GoalGpt.Simulator;

/// <summary>Builds the simulator: from its own Program, or inside a test with a fake clock.</summary>
public static class SimulatorHost
{
    /// <summary>Where the simulator listens when nothing says otherwise: loopback.</summary>
    public const string LocalUrls = "http://127.0.0.1:8090";

    /// <summary>
    /// The configuration of the simulator process: ASPNETCORE_-prefixed variables (what an image
    /// sets), then its own file (not appsettings.json, which would collide with the silo's where
    /// both are referenced), then the environment and the command line, which win.
    /// </summary>
    public static IConfigurationBuilder AddProcessConfiguration(IConfigurationBuilder configuration, string[] args) =>
        configuration.AddEnvironmentVariables("ASPNETCORE_")
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "simulator.json"), optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(args);

    public static WebApplication Build(string[] args, TimeProvider? time = null, Action<IConfigurationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        if (configure is null)
        {
            builder.Configuration.Sources.Clear();
            AddProcessConfiguration(builder.Configuration, args);
            HostUrls.DefaultTo(builder, LocalUrls);
        }
        else
        {
            configure(builder.Configuration);
        }
        time ??= TimeProvider.System;
        var options = builder.Configuration.GetSection(SimulatorOptions.Section).Get<SimulatorOptions>() ?? new SimulatorOptions();
        var world = new FeedWorld(ScriptGenerator.Generate(options, time.GetUtcNow().ToUnixTimeSeconds()));
        builder.Services.AddOptions<SimulatorOptions>().BindConfiguration(SimulatorOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(time);
        builder.Services.AddSingleton(world);
        builder.Services.AddSingleton<FaultDice>();
        builder.Services.AddSingleton<RequestLog>();
        builder.Services.AddSingleton<Env>();
        builder.Services.AddSingleton<MqttPublisher>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MqttPublisher>());
        var app = builder.Build();
        ProviderApi.Map(app);
        return app;
    }
}
