using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Tests.Infrastructure;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>
/// Invariant 8 for admin values: the upsert's guard lets a polled value replace an admin-sourced one only
/// with a strictly newer provider_update_time than the row holds; a push observed later replaces it.
/// </summary>
[Collection(RealServers.Name)]
public sealed class AdminGuardTests : IAsyncLifetime
{
    private TestDatabase _db = null!;

    public async Task InitializeAsync() => _db = await TestDatabase.CreateAsync();

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private async Task<TsMatchRow> UpsertAsync(TsMatchRow row)
    {
        Assert.Empty(await _db.Table.UpsertAsync([row]));
        return (await _db.Table.ReadAsync(row.ExternalId))!;
    }

    [Fact]
    public async Task A_poll_of_the_same_provider_time_does_not_replace_an_admin_value_and_a_newer_one_does()
    {
        const long put = 1_780_000_000;
        var admin = new TsMatchRow
        {
            ExternalId = "guard-admin", FenceToken = 1, ProviderUpdateTime = put,
            StatusId = 8, StatusSource = "admin", StatusTimestamp = 10_000, StatusConfirmed = true,
            HomeScore = 1, HomeScoreSource = "admin", HomeScoreTimestamp = 10_000,
        };
        await UpsertAsync(admin);

        // A writer sending a poll observed later (a silo whose clock is ahead, or a late row) with the provider's old view.
        var poll = admin with
        {
            StatusId = 4, StatusSource = "api", StatusTimestamp = 12_000, StatusConfirmed = true,
            HomeScore = 2, HomeScoreSource = "api", HomeScoreTimestamp = 12_000,
        };
        var row = await UpsertAsync(poll);
        Assert.Equal((8, "admin", 1, "admin"), (row.StatusId, row.StatusSource, row.HomeScore, row.HomeScoreSource));

        // A push observed after the correction is a change by itself.
        row = await UpsertAsync(admin with { HomeScore = 3, HomeScoreSource = "mqtt", HomeScoreTimestamp = 13_000 });
        Assert.Equal((3, "mqtt"), (row.HomeScore, row.HomeScoreSource));

        // The provider changed the match after the correction: its poll lands.
        row = await UpsertAsync(poll with { ProviderUpdateTime = put + 1, StatusTimestamp = 50_000, HomeScoreTimestamp = 50_000 }); // past the 30 s a push guards
        Assert.Equal((4, "api", 2, "api", put + 1), (row.StatusId, row.StatusSource, row.HomeScore, row.HomeScoreSource, row.ProviderUpdateTime));
    }
}
