using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Silo;

namespace Orleans.GoalGpt.Bench;

/// <summary>One real silo in this process, wired like the service, on the benchmark database.</summary>
public sealed class BenchSilo : IAsyncDisposable
{
    private readonly IHost _host;

    private BenchSilo(IHost host, string clusterId, int gatewayPort, WarningCounter warnings)
    {
        Warnings = warnings;
        _host = host;
        ClusterId = clusterId;
        GatewayPort = gatewayPort;
    }

    /// <summary>The cluster id a client process (the load generator) joins with.</summary>
    public string ClusterId { get; }

    /// <summary>The silo's gateway on 127.0.0.1, for a client process.</summary>
    public int GatewayPort { get; }

    /// <summary>Orleans' health and thread-pool warnings of this silo.</summary>
    public WarningCounter Warnings { get; }

    public IGrainFactory Grains => _host.Services.GetRequiredService<IGrainFactory>();

    public TsMatchesWriter Writer => _host.Services.GetRequiredService<TsMatchesWriter>();

    public IServiceProvider Services => _host.Services;

    /// <summary>A bench setting: how often Orleans looks for idle activations (its collection quantum, 1 min by default).</summary>
    public const string CollectionQuantumSetting = "Bench:CollectionQuantum";

    public static async Task<BenchSilo> StartAsync(string postgres, string redis, IDictionary<string, string?>? settings = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        var warnings = new WarningCounter();
        builder.Logging.AddProvider(warnings);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = postgres,
            ["ConnectionStrings:Redis"] = redis,
            ["Orleans:MembershipEntryExpiryMinutes"] = "30", // longer than any scenario: the hash expires once, unrenewed
            ["Jobs:Enabled"] = "false", // the bench is the producer
            ["Mqtt:Enabled"] = "false",
        });
        if (settings is not null) builder.Configuration.AddInMemoryCollection(settings);
        var clusterId = $"bench-{Guid.NewGuid():N}";
        var gatewayPort = FreePort();
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = clusterId;
                o.ServiceId = "goalgpt-bench";
            });
            silo.ConfigureEndpoints(IPAddress.Loopback, FreePort(), gatewayPort, listenOnAnyHostAddress: false);
            silo.AddGoalGpt(builder.Configuration);
            if (builder.Configuration.GetValue<TimeSpan?>(CollectionQuantumSetting) is { } quantum)
            {
                silo.Services.Configure<Orleans.Configuration.GrainCollectionOptions>(o => o.CollectionQuantum = quantum);
            }
        });
        var host = builder.Build();
        await host.StartAsync();
        return new BenchSilo(host, clusterId, gatewayPort, warnings);
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}

/// <summary>
/// Counts the warnings Orleans logs when the silo itself suffers: its watchdog (a stalled thread pool, a starved
/// check) and its local health monitor (a degraded health score, which makes other silos suspect it).
/// </summary>
public sealed class WarningCounter : ILoggerProvider
{
    private long _health;

    public long Health => Interlocked.Read(ref _health);

    public void Reset() => Interlocked.Exchange(ref _health, 0);

    public ILogger CreateLogger(string categoryName) =>
        categoryName.Contains("Watchdog", StringComparison.Ordinal) || categoryName.Contains("LocalSiloHealthMonitor", StringComparison.Ordinal)
        || categoryName.Contains("ThreadPool", StringComparison.Ordinal)
            ? new Counting(this)
            : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    public void Dispose()
    {
    }

    private sealed class Counting(WarningCounter owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Warning) Interlocked.Increment(ref owner._health);
        }
    }
}
