using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.GoalGpt.Silo.Admin;
using Orleans.GoalGpt.Tests.Infrastructure;
using Orleans.GoalGpt.Tests.Integration;
using Xunit;

namespace Orleans.GoalGpt.Tests.Admin;

/// <summary>
/// One cluster for the admin and audit tests: two real silo processes (HTTP on each), a client through the
/// gateway, a fresh database, and the simulated provider for the watchdog (the only job on: a live match the
/// simulator does not know is one the provider "no longer returns").
/// </summary>
public sealed class AdminClusterFixture : IAsyncLifetime
{
    /// <summary>An admin key made per run, as an operator would (32 random bytes, base64); only its hash is configured.</summary>
    public string Key { get; } = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>A well-formed key that is not an admin key.</summary>
    public string OtherKey { get; } = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public TestDatabase Db { get; private set; } = null!;
    public SimulatedProvider Sim { get; private set; } = null!;
    public SiloProcess A { get; private set; } = null!;
    public SiloProcess B { get; private set; } = null!;
    public IClusterClient Grains { get; private set; } = null!;
    private IHost _client = null!;

    public async Task InitializeAsync()
    {
        Db = await TestDatabase.CreateAsync();
        Sim = await SimulatedProvider.StartAsync(TimeProvider.System, new Dictionary<string, string?> { ["Simulator:Matches"] = "2" });
        var cluster = $"admin-{Guid.NewGuid():N}";
        Dictionary<string, string?> Settings(int n) => new()
        {
            ["ConnectionStrings__Postgres"] = Db.ConnectionString,
            ["ConnectionStrings__Redis"] = TestEnvironment.Redis,
            ["Orleans__ClusterId"] = cluster,
            ["Orleans__ServiceId"] = cluster,
            ["Orleans__MembershipEntryExpiryMinutes"] = "5",
            ["Orleans__SiloPort"] = (21500 + n).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Orleans__GatewayPort"] = (31500 + n).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Dashboard__Enabled"] = "false",
            ["Admin__Keys__ops"] = AdminKeys.Hash(Key),
            ["Admin__CorrectionWriteTimeout"] = "00:00:20", // the test holding a row lock for 2 s must not see a 503
            ["Admin__Keys__oncall"] = AdminKeys.Hash(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))),
            ["Jobs__Enabled"] = "true",
            ["Jobs__KeepAliveInterval"] = "00:00:02",
            ["Jobs__MatchSync__Enabled"] = "false",
            ["Jobs__DetailLive__Enabled"] = "false",
            ["Jobs__DataUpdate__Enabled"] = "false",
            ["Jobs__MinuteClock__Enabled"] = "false",
            ["Jobs__Watchdog__Interval"] = "00:00:01",
            ["Jobs__Watchdog__StaleAfter"] = "00:05:00", // only the stale test's match is that quiet
            ["Provider__BaseUrl"] = Sim.BaseUrl,
            ["Provider__RequestsPerSecond"] = "5",
        };
        A = SiloProcess.StartOn("127.0.0.1", 18501, Settings(1));
        B = SiloProcess.StartOn("127.0.0.1", 18502, Settings(2));
        foreach (var silo in new[] { A, B })
        {
            var (status, body) = await silo.WaitForAsync("/health/ready", HttpStatusCode.OK, TimeSpan.FromMinutes(2));
            Assert.True(status == HttpStatusCode.OK, $"ready: {status} {body}\n{silo.Output}");
        }

        _client = await DeploymentTests.ConnectClientAsync(cluster);
        Grains = _client.Services.GetRequiredService<IClusterClient>();
    }

    public async Task DisposeAsync()
    {
        _client?.Dispose();
        if (A is not null) await A.DisposeAsync();
        if (B is not null) await B.DisposeAsync();
        if (Sim is not null) await Sim.DisposeAsync();
        if (Db is not null) await Db.DisposeAsync();
    }
}
