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
