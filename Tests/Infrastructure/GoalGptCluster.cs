using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Silo;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.TestingHost;
using StackExchange.Redis;

namespace Orleans.GoalGpt.Tests.Infrastructure;

/// <summary>
/// A TestCluster of real silos wired exactly like the service (<see cref="GoalGptSilo.AddGoalGpt"/>):
/// Redis membership, AdoNet grain storage and ts_matches on a fresh PostgreSQL database.
/// </summary>
public sealed class GoalGptCluster : IAsyncDisposable
{
    private readonly bool _ownsDatabase;

    private GoalGptCluster(TestCluster cluster, TestDatabase database, bool ownsDatabase)
    {
        Cluster = cluster;
        Database = database;
        _ownsDatabase = ownsDatabase;
    }

    public TestCluster Cluster { get; }
    public TestDatabase Database { get; }
    public IGrainFactory Grains => Cluster.Client;

    /// <summary>The clock of clusters started with <c>fakeTime</c>: tests move it; grain timers follow.</summary>
    public static FakeTimeProvider FakeTime { get; private set; } = new(DateTimeOffset.UtcNow);

    /// <summary>
    /// A fresh fake clock at the real now for the next cluster started with <c>fakeTime</c> (tests
    /// move the shared one hours ahead; each test's timeline starts from the real now).
    /// </summary>
    public static FakeTimeProvider NewFakeTime() => FakeTime = new FakeTimeProvider(DateTimeOffset.UtcNow);

    public static async Task<GoalGptCluster> StartAsync(int silos = 2, IDictionary<string, string?>? settings = null,
        bool fakeTime = false, TestDatabase? database = null, bool ownsDatabase = true, string? serviceId = null)
    {
        database ??= await TestDatabase.CreateAsync();
        var builder = new TestClusterBuilder((short)silos);
        builder.Options.UseTestClusterMembership = false;
        if (serviceId is not null) builder.Options.ServiceId = serviceId; // clusters sharing one service's storage
        builder.ConfigureHostConfiguration(c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = database.ConnectionString,
            ["ConnectionStrings:Redis"] = TestEnvironment.Redis,
            ["Orleans:MembershipEntryExpiryMinutes"] = "5",
            ["WriteBehind:FlushInterval"] = "00:00:00.050",
            ["MatchGrain:MinuteTickInterval"] = "00:00:01",
            ["MatchGrain:StateSaveInterval"] = "00:00:02",
            ["Jobs:Enabled"] = "false", // ingest only where a test gives it a provider and a broker
            ["Mqtt:Enabled"] = "false",
        }.Overridden(settings)));
        if (fakeTime) builder.AddSiloBuilderConfigurator<FakeTimeConfigurator>();
        builder.AddSiloBuilderConfigurator<SiloConfigurator>();
        builder.AddClientBuilderConfigurator<ClientConfigurator>();
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return new GoalGptCluster(cluster, database, ownsDatabase);
    }

    /// <summary>The write-behind of every running silo.</summary>
    public IEnumerable<TsMatchesWriter> Writers => Cluster.Silos
        .OfType<InProcessSiloHandle>()
        .Where(s => s.IsActive)
        .Select(s => s.SiloHost.Services.GetRequiredService<TsMatchesWriter>());

    /// <summary>Has every listed match save its state and hand over its row, then writes it all.</summary>
    public async Task PersistAndFlushAsync(IEnumerable<string> matchIds)
    {
        var pending = matchIds.ToList();
        for (var round = 0; pending.Count > 0; round++)
        {
            if (round == 100) throw new TimeoutException($"{pending.Count} matches could not take a lease: {string.Join(", ", pending.Take(10))}");
            var results = await Task.WhenAll(pending.Select(async id => (id, ok: await Grains.GetGrain<IMatchGrain>(id).Persist())));
            pending = results.Where(r => !r.ok).Select(r => r.id).ToList();
            if (pending.Count > 0) await Task.Delay(200);
        }

        await FlushAsync();
    }

    /// <summary>Writes everything pending on every silo to ts_matches now.</summary>
    public async Task FlushAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        foreach (var writer in Writers) await writer.FlushAsync(timeout.Token);
    }

    public async ValueTask DisposeAsync()
    {
        // A silo's stop has been seen to hang inside Orleans (directory membership updates during
        // shutdown): bounded, so that one hung stop cannot hold the rest of the suite.
        try
        {
            await Cluster.StopAllSilosAsync().WaitAsync(TimeSpan.FromMinutes(2));
        }
        catch (TimeoutException)
        {
            Console.Error.WriteLine("TestCluster: silos did not stop within 2 minutes; abandoned");
        }
        finally
        {
            try
            {
                await Cluster.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromMinutes(1));
            }
            catch (TimeoutException)
            {
                Console.Error.WriteLine("TestCluster: dispose did not finish within 1 minute; abandoned");
            }

            if (_ownsDatabase) await Database.DisposeAsync();
        }
    }

    /// <summary>
    /// The fake clock drives what the product schedules (grain timers, the jobs' and the simulator's
    /// timers, provider retries and timeouts); Orleans' own maintenance keeps the system clock.
    /// </summary>
    /// <remarks>
    /// Why: <see cref="FakeTimeProvider.Advance"/> runs every due timer callback, and the continuations
    /// they complete, inline on the advancing thread while it holds the clock's wake gate. Orleans'
    /// membership, directory and gateway loops wait on deadlines (<c>AsyncTimer</c> ->
    /// <c>DelayUntilAsync</c>) that carry random sub-millisecond jitter (<c>RandomTimeSpan</c>), while
    /// <c>Task.Delay</c> truncates to whole milliseconds. A wake-up that lands less than 1 ms before such
    /// a deadline leaves a positive remainder, <c>Task.Delay</c> of it completes at once, and the loop
    /// spins inside <c>Advance</c> reading a clock that only that same thread could move: a livelock
    /// (issue 17). Orleans 10.4 resolves the clock of each of these areas by a key
    /// (<see cref="TimeProviderNames"/>); pinning them to the system clock takes every such loop off
    /// the fake one.
    /// </remarks>
    private sealed class FakeTimeConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            siloBuilder.Services.AddSingleton<TimeProvider>(FakeTime);
            foreach (var area in SystemClockAreas) siloBuilder.Services.AddKeyedSingleton(area, TimeProvider.System);
        }
    }

    /// <summary>The Orleans areas that keep the system clock in clusters started with <c>fakeTime</c>.</summary>
    public static readonly IReadOnlyList<string> SystemClockAreas =
    [
        TimeProviderNames.Membership,
        TimeProviderNames.SystemTimers,
        TimeProviderNames.Messaging,
        TimeProviderNames.ActivationManagement,
        TimeProviderNames.GrainDirectory,
    ];

    /// <summary>A test setting: how often Orleans looks for idle activations (its collection quantum).</summary>
    public const string CollectionQuantumSetting = "Test:CollectionQuantum";

    /// <summary>A setting that gives one silo (by its test name, Orleans:Name: Secondary_0, Secondary_1, ...) its own Redis connection string.</summary>
    public static string RedisOf(string siloName) => $"Test:Redis:{siloName}";

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            var configuration = siloBuilder.Configuration;
            var name = configuration["Orleans:Name"] ?? "";
            if (configuration[RedisOf(name)] is { } redis)
            {
                // This silo reaches Redis its own way (e.g. through a relay a test cuts).
                configuration = new ConfigurationBuilder().AddConfiguration(configuration)
                    .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = redis }).Build();
            }

            siloBuilder.AddGoalGpt(configuration);
            if (configuration.GetValue<TimeSpan?>(CollectionQuantumSetting) is { } quantum)
            {
                // Orleans looks for idle activations once per quantum (1 min): a test of idle collection looks more often.
                siloBuilder.Services.Configure<Orleans.Configuration.GrainCollectionOptions>(o => o.CollectionQuantum = quantum);
            }

            if (Environment.GetEnvironmentVariable("GOALGPT_TEST_SILO_LOGS") == "1")
            {
                // For working on one test: the silos' own warnings on the console, named by silo.
                var name2 = name;
                siloBuilder.Services.AddLogging(l => l.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = $"HH:mm:ss.fff '[{name2}]' "; })
                    .AddFilter("Orleans.GoalGpt", LogLevel.Information).AddFilter("Orleans.Runtime", LogLevel.Warning));
            }
        }
    }

    private sealed class ClientConfigurator : IClientBuilderConfigurator
    {
        public void Configure(IConfiguration configuration, IClientBuilder clientBuilder) =>
            clientBuilder.UseRedisClustering(o => o.ConfigurationOptions = ConfigurationOptions.Parse(configuration["ConnectionStrings:Redis"]!));
    }
}

internal static class SettingsExtensions
{
    /// <summary>These settings with <paramref name="overrides"/> replacing or adding keys.</summary>
    public static Dictionary<string, string?> Overridden(this Dictionary<string, string?> settings, IDictionary<string, string?>? overrides)
    {
        foreach (var (k, v) in overrides ?? new Dictionary<string, string?>()) settings[k] = v;
        return settings;
    }
}
