using Npgsql;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Silo;
using Orleans.Dashboard;
using Orleans.GoalGpt.Silo.Operations;
using StackExchange.Redis;

var builder = WebApplication.CreateBuilder(args);

ConnectionSettings settings;
try
{
    settings = ConnectionSettings.From(builder.Configuration);
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
    // In containers: advertise the container's name, listen on every address.
    if (builder.Configuration["Orleans:AdvertisedHost"] is { Length: > 0 } host)
    {
        silo.ConfigureEndpoints(host, siloPort, gatewayPort, listenOnAnyHostAddress: true);
    }
    else
    {
        silo.ConfigureEndpoints(System.Net.IPAddress.Loopback, siloPort, gatewayPort, listenOnAnyHostAddress: false);
    }
    silo.AddGoalGpt(builder.Configuration);
    silo.AddDashboard();
});

builder.AddGoalGptOperations();

var app = builder.Build();
app.MapGoalGptOperations();
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
