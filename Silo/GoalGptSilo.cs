using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.GoalGpt.Grains;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.GoalGpt.Grains.Storage;
using StackExchange.Redis;

namespace Orleans.GoalGpt.Silo;

/// <summary>The one place that wires a silo: clustering, storage, write-behind, options, checks.</summary>
public static class GoalGptSilo
{
    /// <summary>Adds everything the service needs to <paramref name="silo"/>.</summary>
    public static ISiloBuilder AddGoalGpt(this ISiloBuilder silo, IConfiguration configuration, bool useRedisMembership = true)
    {
        var settings = ConnectionSettings.From(configuration);

        if (useRedisMembership)
        {
            silo.UseRedisClustering(o =>
            {
                o.ConfigurationOptions = ConfigurationOptions.Parse(settings.Redis);
                // Dead silos' entries expire instead of piling up in Redis.
                o.EntryExpiry = TimeSpan.FromMinutes(configuration.GetValue("Orleans:MembershipEntryExpiryMinutes", 60));
            });
        }

        silo.AddAdoNetGrainStorage(StorageNames.Matches, o =>
        {
            o.Invariant = "Npgsql";
            o.ConnectionString = settings.Postgres;
        });

        var services = silo.Services;
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(_ => NpgsqlDataSource.Create(settings.Postgres));
        services.AddSingleton<TsMatchesTable>();
        services.AddSingleton<GoalGptMetrics>();
        services.AddSingleton<TsMatchesWriter>();
        services.AddSingleton<MatchLocks>();
        services.AddSingleton<IConnectionMultiplexer>(_ =>
        {
            var redis = ConfigurationOptions.Parse(settings.Redis);
            redis.AbortOnConnectFail = false; // keep retrying: without Redis, updates wait in memory
            redis.AsyncTimeout = Math.Min(redis.AsyncTimeout, 2000); // a lock call must not hold a grain's turn for long
            return ConnectionMultiplexer.Connect(redis);
        });
        services.AddSingleton(sp => new SchemaMigrator(settings.Postgres, sp.GetRequiredService<ILogger<SchemaMigrator>>()));
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, SiloStartup>();
        services.AddOptions<WriteBehindOptions>().BindConfiguration(WriteBehindOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<MatchGrainOptions>().BindConfiguration(MatchGrainOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<LockOptions>().BindConfiguration(LockOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<DatabaseOptions>().BindConfiguration(DatabaseOptions.Section);
        return silo;
    }

    private static void TryAddSingleton<T>(this IServiceCollection services, T instance)
        where T : class
    {
        if (!services.Any(d => d.ServiceType == typeof(T))) services.AddSingleton(instance);
    }
}

/// <summary>Database behaviour at start (section <c>Database</c>).</summary>
public sealed class DatabaseOptions
{
    public const string Section = "Database";

    /// <summary>Apply pending migrations at start instead of refusing to start.</summary>
    public bool MigrateOnStart { get; set; }
}

/// <summary>The two connection strings, required, with a message naming the missing setting.</summary>
public sealed record ConnectionSettings(string Postgres, string Redis)
{
    public static ConnectionSettings From(IConfiguration configuration) => new(
        Require(configuration, "Postgres"),
        Require(configuration, "Redis"));

    private static string Require(IConfiguration configuration, string name) =>
        configuration.GetConnectionString(name) is { Length: > 0 } value
            ? value
            : throw new OptionsValidationException($"ConnectionStrings:{name}", typeof(ConnectionSettings),
                [$"Missing setting ConnectionStrings__{name} (environment) / ConnectionStrings:{name} (appsettings.json)."]);
}
