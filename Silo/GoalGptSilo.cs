using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.GoalGpt.Grains;
using Orleans.GoalGpt.Grains.Changes;
using Microsoft.Extensions.Http.Resilience;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.GoalGpt.Grains.Ingest;
using Orleans.GoalGpt.Grains.Jobs;
using Polly;
using Orleans.GoalGpt.Grains.Ownership;
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
                // EntryExpiry expires the whole membership hash once, counted from the cluster's first
                // start, and nothing renews it: a production cluster must not set it (dead silos'
                // entries are removed by Orleans' defunct-silo cleanup). Short-lived clusters (tests,
                // benchmarks) set it so that their hashes do not pile up in Redis.
                if (configuration.GetValue<int?>("Orleans:MembershipEntryExpiryMinutes") is { } minutes)
                {
                    o.EntryExpiry = TimeSpan.FromMinutes(minutes);
                }
            });
        }

        // Failure detection (probe timeout, missed probes, votes): Orleans' defaults unless set; the
        // settings used across hosts and why are in docs/chaos.md ("Membership settings").
        silo.Services.AddOptions<Orleans.Configuration.ClusterMembershipOptions>().BindConfiguration("Orleans:Membership");

        silo.AddAdoNetGrainStorage(StorageNames.Matches, o =>
        {
            o.Invariant = "Npgsql";
            o.ConnectionString = settings.Postgres;
        });

        var services = silo.Services;
        services.AddSingleton<MatchStateStore>();
        services.AddKeyedSingleton<Orleans.Storage.IGrainStorage>(StorageNames.MatchState, (sp, _) => sp.GetRequiredService<MatchStateStore>());
        services.AddSingleton<MatchStateImport>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<MatchStateImport>());
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(_ => NpgsqlDataSource.Create(settings.Postgres));
        services.AddSingleton<TsMatchesTable>();
        services.AddSingleton<GoalGptMetrics>();
        services.AddSingleton<TsMatchesWriter>();
        services.AddSingleton<MatchLocks>();
        services.AddSingleton<HandOvers>();
        services.AddSingleton<RedisReach>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<RedisReach>());
        Orleans.Placement.PlacementFilterExtensions.AddPlacementFilter<RedisReachableFilter, RedisReachableFilterDirector>(services, ServiceLifetime.Singleton);
        silo.AddPlacementDirector<SiloPinnedPlacement, SiloPinnedPlacementDirector>();
        services.AddSingleton<MatchChanges>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<MatchChanges>());
        services.AddSingleton<IConnectionMultiplexer>(_ =>
        {
            var redis = ConfigurationOptions.Parse(settings.Redis);
            redis.AbortOnConnectFail = false; // keep retrying: without Redis, updates wait in memory
            redis.AsyncTimeout = Math.Min(redis.AsyncTimeout, 2000); // a lock call must not hold a grain's turn for long
            // Socket threads of its own: replies are read even while the thread pool is flooded (the lease renewer waits on them).
            redis.SocketManager = new SocketManager("goalgpt-redis", workerCount: 2, SocketManager.SocketManagerOptions.UseHighPrioritySocketThreads);
            return ConnectionMultiplexer.Connect(redis);
        });
        services.AddSingleton(sp => new SchemaMigrator(settings.Postgres, sp.GetRequiredService<ILogger<SchemaMigrator>>()));
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, SiloStartup>();
        services.AddOptions<WriteBehindOptions>().BindConfiguration(WriteBehindOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<MatchGrainOptions>().BindConfiguration(MatchGrainOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<MatchGrainOptions>, IdleCollectionAgeValidator>();
        // One tick sender for every match activation of the silo (instead of a grain timer each).
        services.AddSingleton<MatchTicker>();
        services.AddSingleton<MatchGrainServices>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<MatchTicker>());
        // Idle match activations go after MatchGrain:IdleCollectionAge (a setting of ours, checked against the diary's cadence):
        // the activation checks it in its tick (a tick is a call, which Orleans counts as use); Orleans' own age is set to
        // the same for what it does collect without a tick (an activation of an invalid id).
        services.AddOptions<Orleans.Configuration.GrainCollectionOptions>().Configure<IOptions<MatchGrainOptions>>((o, match) =>
            o.ClassSpecificCollectionAge[typeof(MatchGrain).FullName!] = match.Value.IdleCollectionAge);
        services.AddOptions<LockOptions>().BindConfiguration(LockOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<DatabaseOptions>().BindConfiguration(DatabaseOptions.Section);
        services.AddOptions<Grains.Audit.AuditOptions>().BindConfiguration(Grains.Audit.AuditOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<Grains.Audit.MatchEventsTable>();
        services.AddSingleton<Grains.Audit.AuditRetention>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<Grains.Audit.AuditRetention>());
        AddIngest(services, configuration);
        return silo;
    }

    /// <summary>The provider client, the feed jobs and the MQTT subscriber (issue: ingest).</summary>
    private static void AddIngest(IServiceCollection services, IConfiguration configuration)
    {
        var jobsEnabled = configuration.GetValue($"{JobsOptions.Section}:Enabled", true);
        var mqttEnabled = configuration.GetValue($"{MqttOptions.Section}:Enabled", true);
        services.AddOptions<JobsOptions>().BindConfiguration(JobsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        foreach (var (name, interval) in JobNames.DefaultIntervals)
        {
            services.AddOptions<JobOptions>(name).Configure(o => o.Interval = interval)
                .BindConfiguration($"{JobsOptions.Section}:{name}").ValidateDataAnnotations().ValidateOnStart();
        }

        // Settings of a part that is switched off are not required.
        var provider = services.AddOptions<ProviderOptions>().BindConfiguration(ProviderOptions.Section);
        if (jobsEnabled) provider.ValidateDataAnnotations().ValidateOnStart();
        var mqtt = services.AddOptions<MqttOptions>().BindConfiguration(MqttOptions.Section);
        if (mqttEnabled) mqtt.ValidateDataAnnotations().ValidateOnStart();

        services.AddSingleton<ProviderRateLimiter>();
        services.AddSingleton<MatchFeed>();
        services.AddSingleton<FeedJobServices>();
        services.AddTransient<ProviderCallHandler>();
        services.AddTransient<ProviderRateLimitHandler>();
        var client = services.AddHttpClient<ProviderClient>((sp, http) =>
            {
                var o = sp.GetRequiredService<IOptions<ProviderOptions>>().Value;
                if (Uri.TryCreate(o.BaseUrl?.TrimEnd('/') + "/", UriKind.Absolute, out var baseUrl)) http.BaseAddress = baseUrl;
                http.Timeout = Timeout.InfiniteTimeSpan; // the resilience pipeline times calls out
            })
            .UseSocketsHttpHandler((h, _) => h.PooledConnectionLifetime = TimeSpan.FromMinutes(2))
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan);

        // Outside in: total timeout, retries, circuit breaker; then per attempt the cluster-wide rate
        // limit, the attempt timeout (not counting the wait for a slot) and error detection.
        client.AddResilienceHandler("provider", (pipeline, context) =>
        {
            var o = context.ServiceProvider.GetRequiredService<IOptions<ProviderOptions>>().Value;
            static ValueTask<bool> Failed(Outcome<HttpResponseMessage> outcome) =>
                ValueTask.FromResult(outcome.Exception is ProviderCallException || HttpClientResiliencePredicates.IsTransient(outcome));
            pipeline.AddTimeout(o.TotalTimeout)
                .AddRetry(new HttpRetryStrategyOptions
                {
                    MaxRetryAttempts = o.MaxRetries,
                    Delay = o.RetryDelay,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    ShouldHandle = args => Failed(args.Outcome),
                })
                .AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
                {
                    FailureRatio = 0.5,
                    MinimumThroughput = o.CircuitBreakerMinimumThroughput,
                    SamplingDuration = TimeSpan.FromSeconds(60),
                    BreakDuration = o.CircuitBreakDuration,
                    ShouldHandle = args => Failed(args.Outcome),
                });
        });
        client.AddHttpMessageHandler<ProviderRateLimitHandler>();
        client.AddResilienceHandler("provider-attempt", (pipeline, context) =>
            pipeline.AddTimeout(context.ServiceProvider.GetRequiredService<IOptions<ProviderOptions>>().Value.AttemptTimeout));
        client.AddHttpMessageHandler<ProviderCallHandler>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, FeedKeeper>();
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
