using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.Dashboard;
using Orleans.GoalGpt.Grains.Diagnostics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Orleans.GoalGpt.Silo.Operations;

/// <summary>
/// The one place that wires what operators see: Prometheus metrics (OpenTelemetry: the service's
/// meter and Orleans'), health endpoints, the Orleans Dashboard.
/// </summary>
public static class ServiceDefaults
{
    public static WebApplicationBuilder AddGoalGptOperations(this WebApplicationBuilder builder)
    {
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("goalgpt-silo"))
            .WithMetrics(m => m
                .AddMeter(GoalGptMetrics.MeterName, "Microsoft.Orleans")
                .AddPrometheusExporter());

        builder.Services.AddHealthChecks()
            .AddCheck<RedisReady>("redis", tags: ["ready"])
            .AddCheck<PostgresReady>("postgresql", tags: ["ready"])
            .AddCheck<SiloJoined>("silo", tags: ["ready"])
            .AddCheck<MigrationsApplied>("migrations", tags: ["ready"]);

        builder.Services.AddHostedService<LiveMatchesMonitor>();
        var dashboard = builder.Configuration.GetSection(DashboardAccessOptions.Section).Get<DashboardAccessOptions>() ?? new DashboardAccessOptions();
        builder.Services.AddSingleton(dashboard);
        return builder;
    }

    public static WebApplication MapGoalGptOperations(this WebApplication app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = HealthResponse.WriteAsync });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = c => c.Tags.Contains("ready"),
            ResponseWriter = HealthResponse.WriteAsync,
            ResultStatusCodes = { [HealthStatus.Healthy] = 200, [HealthStatus.Degraded] = 200, [HealthStatus.Unhealthy] = 503 },
        });
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapOrleansDashboard("/dashboard").AddEndpointFilter(new DashboardAuthFilter(app.Services.GetRequiredService<DashboardAccessOptions>()));
        return app;
    }
}
