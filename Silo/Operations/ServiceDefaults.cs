using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.Dashboard;
using Orleans.GoalGpt.Grains.Diagnostics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Orleans.GoalGpt.Silo.Operations;

/// <summary>
/// The one place that wires what operators see: Prometheus metrics (OpenTelemetry: the service's
/// meter, Orleans', the runtime's and the dependencies'), health endpoints, the cluster view, the
/// Orleans Dashboard.
/// </summary>
public static partial class ServiceDefaults
{
    /// <summary>
    /// Meters exported besides the service's own: Orleans; the .NET runtime (thread pool queue
    /// length, GC, allocations: thread-pool starvation is this service's known overload mode);
    /// HttpClient (provider calls); Npgsql (connection pool and command durations).
    /// </summary>
    public static readonly IReadOnlyList<string> Meters =
        [GoalGptMetrics.MeterName, "Microsoft.Orleans", "System.Runtime", "System.Net.Http", "Npgsql"];

    public static WebApplicationBuilder AddGoalGptOperations(this WebApplicationBuilder builder, DashboardAccessOptions dashboard)
    {
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("goalgpt-silo"))
            .WithMetrics(m => m
                .AddMeter([.. Meters])
                .AddPrometheusExporter());

        builder.Services.AddHealthChecks()
            .AddCheck<RedisReady>("redis", tags: ["ready"])
            .AddCheck<PostgresReady>("postgresql", tags: ["ready"])
            .AddCheck<SiloJoined>("silo", tags: ["ready"])
            .AddCheck<MigrationsApplied>("migrations", tags: ["ready"]);
        builder.Services.AddSingleton<IHealthCheckPublisher, ReadinessGauge>();
        builder.Services.Configure<HealthCheckPublisherOptions>(o =>
        {
            o.Delay = TimeSpan.FromSeconds(2);
            o.Period = TimeSpan.FromSeconds(10);
            o.Predicate = c => c.Tags.Contains("ready");
        });

        builder.Services.AddHostedService<LiveMatchesMonitor>();
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
        app.MapGet("/ops/activations", (IGrainFactory grains) => ClusterView.ActivationsAsync(grains));

        var dashboard = app.Services.GetRequiredService<DashboardAccessOptions>();
        if (dashboard.Enabled)
        {
            app.MapOrleansDashboard("/dashboard").AddEndpointFilter(new DashboardAuthFilter(dashboard));
            if (!dashboard.Protected)
            {
                var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Orleans.GoalGpt.Silo.Dashboard");
                if (dashboard.AllowAnonymousOnLoopback) LogDashboardLocal(logger);
                else LogDashboardClosed(logger);
            }
        }

        return app;
    }

    [LoggerMessage(EventId = 5101, Level = LogLevel.Warning, Message = "Orleans Dashboard refuses every request: Dashboard__Username and Dashboard__Password are not set (or set Dashboard__Enabled=false)")]
    private static partial void LogDashboardClosed(ILogger logger);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Information, Message = "Orleans Dashboard open without credentials to loopback clients only (local mode: Dashboard__AllowAnonymousOnLoopback=true)")]
    private static partial void LogDashboardLocal(ILogger logger);
}
