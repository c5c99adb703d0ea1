using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Tests.Infrastructure;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>
/// How long an admin value stands against polls is the grain's decision (<c>FieldMerge</c>: until the provider
/// changes the match, or a push): the upsert's guard does not hold it itself, because a row carries only the
/// last step of what the grain decided. A push that replaced the admin value and a poll of the same value right
/// after it leave one row stamped <c>api</c> without a newer provider time; a guard holding the admin value
/// against that row would keep the table on the admin value (and its minute NULL for a finished match) for good.
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
    public async Task A_push_then_a_poll_of_the_same_value_written_as_one_row_replace_an_admin_value()
    {
        const long put = 1_780_000_000;
        var admin = new TsMatchRow
        {
            ExternalId = "guard-admin", FenceToken = 1, ProviderUpdateTime = put,
            StatusId = 4, StatusSource = "admin", StatusTimestamp = 10_000, StatusConfirmed = true,
            HomeScore = 1, HomeScoreSource = "admin", HomeScoreTimestamp = 10_000,
        };
        await UpsertAsync(admin);

        // The grain took a push (8, 2) at 11 s and a poll showing the same at 12 s (detail_live: no provider time):
        // one row, its values stamped by the poll.
        var row = await UpsertAsync(admin with
        {
            StatusId = 8, StatusSource = "api", StatusTimestamp = 12_000, StatusConfirmed = false,
            HomeScore = 2, HomeScoreSource = "api", HomeScoreTimestamp = 12_000,
        });
        Assert.Equal((8, "api", 2, "api"), (row.StatusId, row.StatusSource, row.HomeScore, row.HomeScoreSource));
    }
}
