using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Tests.Infrastructure;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>The grain timer keeps a live match's minute current; time comes from the DI TimeProvider.</summary>
[Collection(RealServers.Name)]
[Trait(Tracks.Name, Tracks.Shared)]
public sealed class MinuteTimerTests : IAsyncLifetime
{
    private GoalGptCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        GoalGptCluster.NewFakeTime();
        _cluster = await GoalGptCluster.StartAsync(silos: 1, fakeTime: true);
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task The_minute_follows_the_clock_without_any_update_and_lands_in_ts_matches()
    {
        var clock = GoalGptCluster.FakeTime;
        var kickoffMs = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var grain = _cluster.Grains.GetGrain<IMatchGrain>("timer-1");
        await grain.Apply(Merge.Updates.Score(UpdateSource.Mqtt, kickoffMs, 2, 0, 0, phaseKickoff: kickoffMs / 1000));
        Assert.Equal(1, (await grain.GetSnapshot()).Minute!.Value);

        // Ten minutes pass on the clock, in one-second steps, with no update at all.
        for (var i = 0; i < 600; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            if (i % 20 == 0) await Task.Yield();
        }

        // A tick that awaits I/O (lease renewal) schedules the next one after it completes, on the
        // clock: keep the clock moving, a second at a time, within minute 11 (600 to 659 s).
        int? minute = null;
        for (var i = 0; i < 50 && (minute = (await grain.GetSnapshot()).Minute!.Value) != 11; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(50);
        }

        Assert.Equal(11, minute);

        await _cluster.FlushAsync();
        var row = await _cluster.Database.Table.ReadAsync("timer-1");
        Assert.Equal((11, "11", "computed"), (row!.Minute, row.MinuteText, row.MinuteSource));
    }
}
