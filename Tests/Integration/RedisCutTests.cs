using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Tests.Infrastructure;
using Orleans.Runtime;
using StackExchange.Redis;
using Xunit;
using Xunit.Abstractions;
using U = Orleans.GoalGpt.Tests.Merge.Updates;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>
/// One silo cut from Redis only (issue 14): it stays a cluster member (its peers still reach it), so Orleans
/// keeps its activations. Without a lease they could only accept into memory until Redis came back.
/// </summary>
[Collection(RealServers.Name)]
[Trait(Tracks.Name, Tracks.Shared)]
public sealed class RedisCutTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task A_silo_cut_from_redis_only_hands_its_matches_to_one_that_reaches_it_and_loses_no_acknowledged_update()
    {
        // The interleaving: the silo's leases lapse while it keeps receiving updates for its matches; without the
        // move they stay there, refused a lease on every attempt, until the cut heals.
        var options = ConfigurationOptions.Parse(TestEnvironment.Redis);
        var (host, port) = options.EndPoints[0] switch
        {
            DnsEndPoint d => (d.Host, d.Port),
            IPEndPoint i => (i.Address.ToString(), i.Port),
            var other => throw new InvalidOperationException($"unexpected endpoint {other}"),
        };
        await using var relay = new TcpRelay(host, port);
        options.EndPoints.Clear();
        options.EndPoints.Add(IPAddress.Loopback, relay.Port);
        await using var cluster = await GoalGptCluster.StartAsync(silos: 2, new Dictionary<string, string?>
        {
            ["Locks:LeaseTtl"] = Ttl.ToString(),
            [GoalGptCluster.RedisOf("Secondary_0")] = options.ToString(includePassword: true),
        });
        var cut = cluster.Cluster.SecondarySilos[0].SiloAddress;
        var cutRedis = ((Orleans.TestingHost.InProcessSiloHandle)cluster.Cluster.SecondarySilos[0]).SiloHost.Services.GetRequiredService<IConnectionMultiplexer>();
        Assert.Contains($":{relay.Port}", cutRedis.Configuration, StringComparison.Ordinal); // the silo reaches Redis through the relay
        var ids = Enumerable.Range(0, 40).Select(i => $"rc{i}-{Guid.NewGuid():N}"[..20]).ToArray();
        var newest = new Dictionary<string, int>();
        var home = 0;

        async Task SendRoundAsync()
        {
            home++;
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var results = await Task.WhenAll(ids.Select(id => cluster.Grains.GetGrain<IMatchGrain>(id)
                .Apply(U.Score(UpdateSource.Api, now, 2, home, 0))));
            for (var i = 0; i < ids.Length; i++)
            {
                if (results[i].AnyApplied) newest[ids[i]] = home;
            }
        }

        await SendRoundAsync();
        var onCut = (await PerSiloAsync(cluster, ids)).Where(p => p.Value.Contains(cut)).Select(p => p.Key).ToList();
        Assert.NotEmpty(onCut);

        relay.Cut();
        var started = DateTimeOffset.UtcNow;
        List<string> left;
        do
        {
            await Task.Delay(500);
            await SendRoundAsync();
            var now = await PerSiloAsync(cluster, ids);
            left = onCut.Where(id => !now.TryGetValue(id, out var silos) || silos.Contains(cut)).ToList();
            var reach = ((Orleans.TestingHost.InProcessSiloHandle)cluster.Cluster.SecondarySilos[0]).SiloHost.Services.GetRequiredService<Orleans.GoalGpt.Grains.Ownership.RedisReach>();
            output.WriteLine($"{(DateTimeOffset.UtcNow - started).TotalSeconds:F1} s: {left.Count} left; cut silo reaches Redis {reach.Self}, should move {reach.ShouldMove}, {reach.SinceReachedMs} ms since it last did");
            if (DateTimeOffset.UtcNow - started > TimeSpan.FromSeconds(60))
            {
                Assert.Fail($"{left.Count}/{onCut.Count} matches of the cut silo still there 60 s into the cut");
            }
        }
        while (left.Count > 0);

        var movedAfter = DateTimeOffset.UtcNow - started;
        // Placed on the silo that reaches Redis, they take their leases and write while the cut lasts.
        for (var i = 0; i < 4; i++) await SendRoundAsync();
        await cluster.FlushAsync();
        var duringCut = 0;
        foreach (var id in onCut)
        {
            var row = await cluster.Database.Table.ReadAsync(id);
            if (row?.HomeScore == newest[id]) duringCut++;
        }

        relay.Heal();
        await cluster.PersistAndFlushAsync(ids);
        foreach (var id in ids)
        {
            var row = await cluster.Database.Table.ReadAsync(id);
            Assert.True(row?.HomeScore == newest[id], $"{id}: row home {row?.HomeScore}, newest acknowledged {newest[id]}");
        }

        output.WriteLine($"{onCut.Count}/{ids.Length} matches on the cut silo; all on the other {movedAfter.TotalSeconds:F1} s into the cut " +
                         $"(lease TTL {Ttl.TotalSeconds:0} s); {duringCut}/{onCut.Count} written with their newest update before the heal");
        Assert.Equal(onCut.Count, duringCut);
    }

    private static async Task<Dictionary<string, List<SiloAddress>>> PerSiloAsync(GoalGptCluster cluster, string[] ids)
    {
        var wanted = ids.ToHashSet();
        // Silos named: without them the management grain reads the membership table, from Redis, which the cut silo cannot.
        var silos = cluster.Cluster.GetActiveSilos().Select(s => s.SiloAddress).ToArray();
        var stats = await cluster.Grains.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics(hostsIds: silos);
        return stats.Where(s => wanted.Contains(s.GrainId.Key.ToString()!))
            .GroupBy(s => s.GrainId.Key.ToString()!)
            .ToDictionary(g => g.Key, g => g.Select(s => s.SiloAddress).ToList());
    }
}
