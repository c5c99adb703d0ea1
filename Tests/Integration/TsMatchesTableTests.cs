using Orleans.GoalGpt.Grains.Merge;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Tests.Infrastructure;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>The database itself refuses stale writes, whoever sends them.</summary>
[Collection(RealServers.Name)]
[Trait(Tracks.Name, Tracks.Shared)]
public sealed class TsMatchesTableTests : IAsyncLifetime
{
    private TestDatabase _db = null!;

    public async Task InitializeAsync() => _db = await TestDatabase.CreateAsync();

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private static TsMatchRow Row(string id, long ts, int status, int home, string source = "api", long? kickoff2 = null, string? kickoffSource = null) => new()
    {
        ExternalId = id,
        StatusId = status, StatusSource = source, StatusTimestamp = ts,
        HomeScore = home, HomeScoreSource = source, HomeScoreTimestamp = ts,
        AwayScore = 0, AwayScoreSource = source, AwayScoreTimestamp = ts,
        Minute = 50, MinuteText = "50", MinuteSource = "computed", MinuteTimestamp = ts,
        SecondHalfKickoffTs = kickoff2, SecondHalfKickoffSource = kickoffSource,
    };

    [Fact]
    public async Task A_stale_write_sent_straight_to_the_SQL_path_does_not_replace_a_newer_value()
    {
        await _db.Table.UpsertAsync([Row("s1", ts: 2_000, status: 4, home: 3)]);
        await _db.Table.UpsertAsync([Row("s1", ts: 1_000, status: 2, home: 1, source: "mqtt")]);

        var row = await _db.Table.ReadAsync("s1");
        Assert.Equal(4, row!.StatusId);
        Assert.Equal(3, row.HomeScore);
        Assert.Equal("api", row.HomeScoreSource);
        Assert.Equal(2_000, row.HomeScoreTimestamp);
    }

    [Fact]
    public async Task A_newer_write_replaces_field_by_field_in_one_batch()
    {
        await _db.Table.UpsertAsync([Row("b1", 1_000, 2, 0), Row("b2", 5_000, 4, 2)]);
        await _db.Table.UpsertAsync([Row("b1", 3_000, 4, 1), Row("b2", 4_000, 2, 0)]);

        var rows = await _db.Table.ReadAllAsync();
        Assert.Equal((4, 1), (rows["b1"].StatusId, rows["b1"].HomeScore));
        Assert.Equal((4, 2), (rows["b2"].StatusId, rows["b2"].HomeScore));
    }

    [Fact]
    public async Task The_first_observation_of_the_provider_time_follows_that_time_and_keeps_the_earliest_sighting()
    {
        async Task<(long?, long?, long?)> WriteAsync(long? put, long? seen)
        {
            await _db.Table.UpsertAsync([Row("p1", 1_000, 4, 0) with { ProviderUpdateTime = put, ProviderUpdateSeenTime = seen is null ? null : put, ProviderUpdateSeenMs = seen }]);
            var row = (await _db.Table.ReadAsync("p1"))!;
            return (row.ProviderUpdateTime, row.ProviderUpdateSeenTime, row.ProviderUpdateSeenMs);
        }

        Assert.Equal((100, 100, 100_500), await WriteAsync(100, 100_500));
        Assert.Equal((100, 100, 100_200), await WriteAsync(100, 100_200)); // the same snapshot seen earlier by another writer
        Assert.Equal((100, 100, 100_200), await WriteAsync(100, 100_900)); // ... and later: the earliest stays
        Assert.Equal((100, 100, 100_200), await WriteAsync(100, null)); // a writer that does not know it
        Assert.Equal((100, 100, 100_200), await WriteAsync(99, 99_000)); // an older provider time: nothing moves
        Assert.Equal((100, 100, 100_200), await WriteAsync(null, null)); // an update without one (a push)
        Assert.Equal((101, 101, 101_700), await WriteAsync(101, 101_700)); // a newer one brings its own
        Assert.Equal((102, null, null), await WriteAsync(102, null)); // a newer one not placed: not placed

        // A silo of the previous version moves the provider time without the pair: the pair no longer counts, and the next
        // writer of that time that knows it replaces it (instead of keeping the earlier observation of another time).
        Assert.Equal((103, 103, 103_400), await WriteAsync(103, 103_400));
        await _db.ExecuteAsync("UPDATE ts_matches SET provider_update_time = 104 WHERE external_id = 'p1'");
        var folded = new MatchState();
        (await _db.Table.ReadAsync("p1"))!.MergeInto(folded);
        Assert.Equal((104L, (long?)null), (folded.ProviderUpdateTime!.Value, ProviderTimes.SeenAt(folded, 104)));
        Assert.Equal((104, 104, 104_600), await WriteAsync(104, 104_600));
        (await _db.Table.ReadAsync("p1"))!.MergeInto(folded);
        Assert.Equal(104_600, ProviderTimes.SeenAt(folded, 104));
    }

    [Fact]
    public async Task A_set_kickoff_is_replaced_only_by_an_admin_correction()
    {
        await _db.Table.UpsertAsync([Row("k1", 1_000, 4, 0, kickoff2: 1_780_000_000, kickoffSource: "api")]);
        await _db.Table.UpsertAsync([Row("k1", 2_000, 4, 0, kickoff2: 1_780_000_600, kickoffSource: "mqtt")]);
        Assert.Equal(1_780_000_000, (await _db.Table.ReadAsync("k1"))!.SecondHalfKickoffTs);

        await _db.Table.UpsertAsync([Row("k1", 3_000, 4, 0, kickoff2: null)]);
        Assert.Equal(1_780_000_000, (await _db.Table.ReadAsync("k1"))!.SecondHalfKickoffTs);

        await _db.Table.UpsertAsync([Row("k1", 4_000, 4, 0, kickoff2: 1_780_000_300, kickoffSource: "admin")]);
        Assert.Equal(1_780_000_300, (await _db.Table.ReadAsync("k1"))!.SecondHalfKickoffTs);
    }
}
