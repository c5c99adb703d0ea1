using Microsoft.Extensions.DependencyInjection;
using Orleans.GoalGpt.Tests.Integration;
using Orleans.Runtime;
using Orleans.TestingHost;
using Xunit;

namespace Orleans.GoalGpt.Tests.Infrastructure;

/// <summary>
/// In clusters started with <c>fakeTime</c>, the product's clock is the fake one and Orleans' own
/// maintenance loops run on the system clock, so that advancing the fake clock cannot resume them
/// inline (the livelock of issue 17).
/// </summary>
[Collection(RealServers.Name)]
public sealed class FakeClockWiringTests
{
    [Fact]
    public async Task Grains_and_the_product_get_the_fake_clock_and_Orleans_maintenance_the_system_clock()
    {
        var clock = GoalGptCluster.NewFakeTime();
        await using var cluster = await GoalGptCluster.StartAsync(silos: 2, fakeTime: true);

        foreach (var silo in cluster.Cluster.Silos.OfType<InProcessSiloHandle>())
        {
            var services = silo.SiloHost.Services;
            Assert.Same(clock, services.GetRequiredService<TimeProvider>());
            Assert.Same(clock, services.GetRequiredKeyedService<TimeProvider>(TimeProviderNames.Grains));
            Assert.All(GoalGptCluster.SystemClockAreas, area => Assert.Same(TimeProvider.System, services.GetRequiredKeyedService<TimeProvider>(area)));
        }

        // Hours on the fake clock in one step: membership (on the real clock) sees nothing happen.
        clock.Advance(TimeSpan.FromHours(3));
        var hosts = await cluster.Grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
        Assert.Equal(2, hosts.Count);
    }
}
