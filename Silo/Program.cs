using Npgsql;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Silo;
using Orleans.Dashboard;
using Orleans.GoalGpt.Operations;
using Orleans.GoalGpt.Silo.Operations;
using Orleans.GoalGpt.Silo.Api;
using StackExchange.Redis;

var builder = WebApplication.CreateBuilder(args);
const string LocalUrls = "http://127.0.0.1:8080";

// The container healthcheck (the runtime image has no wget/curl): asks this host's /health/ready.
if (args is ["healthcheck", ..])
{
    return await HostUrls.ProbeAsync(builder.Configuration, LocalUrls, "/health/ready");
}

// An operator makes an admin key's setting: the key on standard input, only its hash printed.
if (args is ["hash-admin-key", ..])
{
    return Orleans.GoalGpt.Silo.Admin.AdminKeys.HashCommand(Console.In, Console.Out, Console.Error);
}

HostUrls.DefaultTo(builder, LocalUrls);

ConnectionSettings settings;
ShutdownSettings shutdown;
DashboardAccessOptions dashboard;
Orleans.GoalGpt.Silo.Admin.AdminKeys adminKeys;
try
{
    settings = ConnectionSettings.From(builder.Configuration);
    shutdown = ShutdownSettings.From(builder.Configuration);
    dashboard = DashboardAccessOptions.From(builder.Configuration);
    adminKeys = Orleans.GoalGpt.Silo.Admin.AdminKeys.From(builder.Configuration);
}
catch (Microsoft.Extensions.Options.OptionsValidationException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return 2;
}

if (args.Length > 0 && args[0] is "migrate" or "rollback")
{
    using var loggers = LoggerFactory.Create(l => l.AddSimpleConsole(o => o.SingleLine = true));
    var migrator = new SchemaMigrator(settings.Postgres, loggers.CreateLogger<SchemaMigrator>());
    try
    {
        if (args[0] == "migrate") await migrator.MigrateAsync();
        else await migrator.RollbackAsync(args.Length > 1 ? args[1] : throw new ArgumentException("usage: rollback <number>, e.g. rollback 0002"));
        return 0;
    }
    catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or ArgumentException)
    {
        Console.Error.WriteLine($"error: {ex.Message}");
        return 1;
    }
}

if (await Preflight.FirstUnreachableAsync(settings) is { } unreachable)
{
    Console.Error.WriteLine($"error: {unreachable}");
    return 1;
}

builder.UseOrleans(silo =>
{
    var siloPort = builder.Configuration.GetValue("Orleans:SiloPort", 11111);
    var gatewayPort = builder.Configuration.GetValue("Orleans:GatewayPort", 30000);
    silo.Configure<Orleans.Configuration.ClusterOptions>(o =>
    {
        o.ClusterId = builder.Configuration["Orleans:ClusterId"] ?? "goalgpt";
        o.ServiceId = builder.Configuration["Orleans:ServiceId"] ?? "goalgpt";
    });
    // Several hosts (VMs, containers): advertise the address the other silos and clients reach this
    // one at, listen on every address (or only on the advertised one). One host: loopback only.
    if (builder.Configuration["Orleans:AdvertisedHost"] is { Length: > 0 } host)
    {
        silo.ConfigureEndpoints(host, siloPort, gatewayPort,
            listenOnAnyHostAddress: builder.Configuration.GetValue("Orleans:ListenOnAnyAddress", true));
    }
    else
    {
        silo.ConfigureEndpoints(System.Net.IPAddress.Loopback, siloPort, gatewayPort, listenOnAnyHostAddress: false);
    }
    silo.AddGoalGpt(builder.Configuration);
    if (dashboard.Enabled) silo.AddDashboard();
});

builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = shutdown.Timeout);
builder.AddGoalGptOperations(dashboard);
builder.Services.AddSingleton(adminKeys);
builder.AddGoalGptReadApi();

var app = builder.Build();
app.MapGoalGptOperations();
Orleans.GoalGpt.Silo.Admin.AdminEndpoints.MapGoalGptAdmin(app);
app.MapGoalGptReadApi();
try
{
    await app.RunAsync();
}
catch (InvalidOperationException ex) when (ex.Message.StartsWith("The database is not migrated", StringComparison.Ordinal))
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return 1;
}

return 0;

/// <summary>A one-line reason when Redis or PostgreSQL cannot be reached, naming the setting.</summary>
internal static class Preflight
{
    public static async Task<string?> FirstUnreachableAsync(ConnectionSettings settings)
    {
        try
        {
            var options = ConfigurationOptions.Parse(settings.Redis);
            options.AbortOnConnectFail = true;
            options.ConnectTimeout = 5000;
            await using var redis = await ConnectionMultiplexer.ConnectAsync(options);
            await redis.GetDatabase().PingAsync();
        }
        catch (Exception ex) when (ex is RedisException or ArgumentException)
        {
            return $"Redis unreachable at {string.Join(",", ConfigurationOptions.Parse(settings.Redis).EndPoints)} (ConnectionStrings__Redis): {ex.Message.Split('\n')[0]}";
        }

        try
        {
            await using var connection = new NpgsqlConnection(settings.Postgres);
            await connection.OpenAsync();
        }
        catch (Exception ex) when (ex is NpgsqlException or ArgumentException or TimeoutException)
        {
            var cs = new NpgsqlConnectionStringBuilder(settings.Postgres);
            return $"PostgreSQL unreachable at {cs.Host}:{cs.Port} (ConnectionStrings__Postgres): {ex.Message}";
        }

        return null;
    }
}
