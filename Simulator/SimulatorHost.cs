using Orleans.GoalGpt.Simulator.Feed;
using Orleans.GoalGpt.Simulator.Model;

namespace Orleans.GoalGpt.Simulator;

/// <summary>Builds the simulator: from its own Program, or inside a test with a fake clock.</summary>
public static class SimulatorHost
{
    public static WebApplication Build(string[] args, TimeProvider? time = null, Action<IConfigurationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        if (configure is null)
        {
            // Its own file (not appsettings.json, which would collide with the silo's where both are referenced); env vars still win.
            builder.Configuration.Sources.Clear();
            builder.Configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "simulator.json"), optional: true).AddEnvironmentVariables().AddCommandLine(args);
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
