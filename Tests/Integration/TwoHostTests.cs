using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Tests.Infrastructure;
using Orleans.GoalGpt.Tests.Merge;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>
/// Two hosts sharing one Redis and one PostgreSQL, as docs/operations.md deploys them: here two
/// silo processes on two loopback addresses, each advertising and listening on its own.
/// </summary>
[Collection(RealServers.Name)]
[Trait(Tracks.Name, Tracks.Shared)]
public sealed class TwoHostTests : IAsyncLifetime
{
    private TestDatabase _db = null!;

    public async Task InitializeAsync() => _db = await TestDatabase.CreateAsync();

    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task Two_silos_on_two_addresses_form_one_cluster_share_the_matches_and_hand_them_over_on_a_rolling_restart()
    {
        var cluster = $"twohost-{Guid.NewGuid():N}";
        // The same ports on both hosts, as on two VMs: only binding each to its own address lets both start.
        string Port() => SiloProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var (siloPort, gatewayPort) = (Port(), Port());
        var httpPort = SiloProcess.FreePort();
        Dictionary<string, string?> Host(string address) => new()
        {
            ["ConnectionStrings__Postgres"] = _db.ConnectionString,
            ["ConnectionStrings__Redis"] = TestEnvironment.Redis,
            ["Orleans__ClusterId"] = cluster,
            ["Orleans__ServiceId"] = cluster,
            ["Orleans__MembershipEntryExpiryMinutes"] = "5",
            ["Orleans__AdvertisedHost"] = address,
            ["Orleans__ListenOnAnyAddress"] = "false",
            ["Orleans__SiloPort"] = siloPort,
            ["Orleans__GatewayPort"] = gatewayPort,
        };
        var first = Host("127.0.0.2");
        first["Dashboard__AllowAnonymousOnLoopback"] = "true"; // the local mode of ./run.sh
        var second = Host("127.0.0.3");
        second["Dashboard__Enabled"] = "false";
        await using var a = SiloProcess.StartOn("127.0.0.2", httpPort, first);
        await using var b = SiloProcess.StartOn("127.0.0.3", httpPort, second);
        foreach (var silo in new[] { a, b })
        {
            var (status, body) = await silo.WaitForAsync("/health/ready", HttpStatusCode.OK, TimeSpan.FromMinutes(2));
            Assert.True(status == HttpStatusCode.OK, $"ready: {status} {body}\n{silo.Output}");
        }

        using var client = await DeploymentTests.ConnectClientAsync(cluster);
        var grains = client.Services.GetRequiredService<IClusterClient>();
        var ids = Enumerable.Range(0, 60).Select(i => $"twohost-{i}").ToList();
        var observed = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 60_000;
        foreach (var id in ids) Assert.True((await grains.GetGrain<IMatchGrain>(id).Apply(Updates.Score(UpdateSource.Api, observed, 2, 1, 0))).AnyApplied);

        // One cluster: both silos active in the membership, with the addresses they advertise, each holding matches.
        var view = await ActivationsAsync(a);
        var raw = await a.Http.GetStringAsync("/ops/activations");
        Assert.Equal([$"127.0.0.2:{siloPort}", $"127.0.0.3:{siloPort}"], view.Select(s => s.Silo).Order(StringComparer.Ordinal));
        Assert.All(view, s => Assert.Equal("Active", s.Status));
        Assert.All(view, s => Assert.True(s.Matches > 0, $"{s.Silo} holds no match: {raw}"));
        Assert.Equal(ids.Count, view.Sum(s => s.Matches));
        Assert.Equal(view, await ActivationsAsync(b));

        // Dashboard: local mode serves loopback clients without credentials; disabled is not there.
        Assert.Equal(HttpStatusCode.OK, (await a.Http.GetAsync("/dashboard/")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await b.Http.GetAsync("/dashboard/")).StatusCode);

        // Rolling restart, first step: stop one; the other shows it holds no match, and serves all of them.
        a.Terminate();
        Assert.Equal(0, await a.ExitCodeAsync(TimeSpan.FromMinutes(2)));
        foreach (var id in ids) Assert.True((await grains.GetGrain<IMatchGrain>(id).Apply(Updates.Score(UpdateSource.Api, observed + 1, 2, 2, 0))).AnyApplied);
        var after = await ActivationsAsync(b);
        Assert.Equal(ids.Count, after.Single(s => s.Silo == $"127.0.0.3:{siloPort}").Matches);
        Assert.All(after.Where(s => s.Silo == $"127.0.0.2:{siloPort}"), s => Assert.NotEqual("Active", s.Status));
        Assert.Equal(0, after.Where(s => s.Silo == $"127.0.0.2:{siloPort}").Sum(s => s.Matches));
    }

    private sealed record SiloView(string Silo, string Status, int Matches);

    private static async Task<List<SiloView>> ActivationsAsync(SiloProcess silo)
    {
        var json = await silo.Http.GetStringAsync("/ops/activations");
        return JsonDocument.Parse(json).RootElement.GetProperty("silos").EnumerateArray()
            .Select(s => new SiloView(s.GetProperty("silo").GetString()!, s.GetProperty("status").GetString()!, s.GetProperty("matches").GetInt32()))
            .ToList();
    }
}
