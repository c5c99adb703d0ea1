using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Tests.Infrastructure;
using Orleans.GoalGpt.Tests.Integration;
using Xunit;

namespace Orleans.GoalGpt.Tests.Api;

/// <summary>
/// Two silo processes (the real executable) in one cluster on one fresh database, shared by the read API tests:
/// heartbeats every second and small client queues so that pings and a dropped client come quickly.
/// </summary>
public sealed class ReadApiCluster : IAsyncLifetime
{
    public const int ClientQueueCapacity = 64;
    private IHost? _client;

    public TestDatabase Db { get; private set; } = null!;
    public SiloProcess A { get; private set; } = null!;
    public SiloProcess B { get; private set; } = null!;
    public IClusterClient Grains { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Db = await TestDatabase.CreateAsync();
        var cluster = $"readapi-{Guid.NewGuid():N}";
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings__Postgres"] = Db.ConnectionString,
            ["ConnectionStrings__Redis"] = TestEnvironment.Redis,
            ["Orleans__ClusterId"] = cluster,
            ["Orleans__ServiceId"] = cluster,
            ["Orleans__MembershipEntryExpiryMinutes"] = "5",
            ["Dashboard__Enabled"] = "false",
            ["Stream__PingInterval"] = "00:00:01",
            ["Stream__ClientQueueCapacity"] = ClientQueueCapacity.ToString(CultureInfo.InvariantCulture),
        };
        A = SiloProcess.Start(settings);
        B = SiloProcess.Start(settings);
        foreach (var silo in new[] { A, B })
        {
            var (status, body) = await silo.WaitForAsync("/health/ready", HttpStatusCode.OK, TimeSpan.FromMinutes(2));
            Assert.True(status == HttpStatusCode.OK, $"ready: {status} {body}\n{silo.Output}");
        }

        _client = await DeploymentTests.ConnectClientAsync(cluster);
        Grains = _client.Services.GetRequiredService<IClusterClient>();

        // Each silo sends its changes to the other's hub once it has found it in the registry (every 5 s).
        foreach (var silo in new[] { A, B })
        {
            for (var i = 0; await MetricAsync(silo, "goalgpt_stream_remote_hubs") < 1; i++)
            {
                Assert.True(i < 240, $"the silo never found the other's hub:\n{silo.Output}");
                await Task.Delay(250);
            }
        }
    }

    /// <summary>Which of the two silos holds the match's activation now.</summary>
    public async Task<SiloProcess> OwnerAsync(string matchId)
    {
        var address = await Grains.GetGrain<IManagementGrain>(0).GetActivationAddress(Grains.GetGrain<IMatchGrain>(matchId));
        Assert.NotNull(address);
        var port = address!.Endpoint.Port.ToString(CultureInfo.InvariantCulture);
        return A.Environment["Orleans__SiloPort"] == port ? A : B.Environment["Orleans__SiloPort"] == port ? B : throw new InvalidOperationException($"no silo at {address}");
    }

    /// <summary>The sum of a metric's series at the silo's <c>/metrics</c> (0 when absent).</summary>
    public static async Task<double> MetricAsync(SiloProcess silo, string name)
    {
        var text = await silo.Http.GetStringAsync("/metrics");
        return text.Split('\n')
            .Where(l => l.StartsWith(name, StringComparison.Ordinal) && (l.Length > name.Length && (l[name.Length] == ' ' || l[name.Length] == '{')))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// The metric once it shows <paramref name="expected"/> (or its last value after 30 s): the Prometheus exporter
    /// answers a scrape from a cache of up to 300 ms, so a count just made may show at the next one.
    /// </summary>
    public static async Task<double> MetricOnceAsync(SiloProcess silo, string name, double expected)
    {
        var value = await MetricAsync(silo, name);
        for (var i = 0; value != expected && i < 120; i++)
        {
            await Task.Delay(250);
            value = await MetricAsync(silo, name);
        }

        return value;
    }

    public static async Task<JsonElement> GetJsonAsync(SiloProcess silo, string path, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await silo.Http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"GET {path}: {response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public async Task DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.StopAsync();
            _client.Dispose();
        }

        await A.DisposeAsync();
        await B.DisposeAsync();
        await Db.DisposeAsync();
    }
}
