using System.Text;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Audit;
using Orleans.GoalGpt.Grains.Merge;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Silo.Admin;
using Orleans.GoalGpt.Tests.Infrastructure;
using Orleans.GoalGpt.Tests.Integration;
using Orleans.GoalGpt.Tests.Merge;
using Xunit;

namespace Orleans.GoalGpt.Tests.Admin;

/// <summary>Text PostgreSQL cannot store (a NUL) or UTF-8 cannot encode (a lone surrogate): refused at the edge, made safe in the audit.</summary>
[Collection(RealServers.Name)]
public sealed class CorrectionInputTests : IAsyncLifetime
{
    private TestDatabase _db = null!;

    public async Task InitializeAsync() => _db = await TestDatabase.CreateAsync();

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private static Dictionary<string, FieldError> Errors(string body) =>
        CorrectionRequest.Parse(Encoding.UTF8.GetBytes(body), Updates.Now).Errors;

    [Theory]
    [InlineData("""{"reason": "wrong\u0000score", "fields": {"home_score": 1}}""", "reason")]
    [InlineData("""{"reason": "line\nforged", "fields": {"home_score": 1}}""", "reason")]
    [InlineData("""{"reason": "half \ud800 a pair", "fields": {"home_score": 1}}""", "reason")]
    [InlineData("""{"reason": "fine", "fields": {"x\ud800": 1}}""", "body")]
    public void A_reason_with_a_control_character_or_a_lone_surrogate_is_refused_per_field(string body, string field)
    {
        var errors = Errors(body);
        Assert.Equal(RejectReasons.Malformed, Assert.Contains(field, errors).Reason);
    }

    [Fact]
    public async Task A_rejected_provider_id_with_a_NUL_or_a_lone_surrogate_is_recorded_and_its_row_written()
    {
        const string id = "nul-id";
        var state = new MatchState();
        var u = Updates.Score(UpdateSource.Api, Updates.Now - 1_000, 2, 1, 0) with { HomeTeamId = "team\0x", AwayTeamId = "team\ud800" };
        var before = AuditValues.Of(state);
        var outcome = FieldMerge.Apply(state, u, Updates.Now);
        var events = AuditEvents.Of(id, u, before, state, outcome);
        Assert.Equal(@"team\u0000x", Assert.Single(events, e => e is { Kind: AuditKinds.InputRejected, Field: "home_team_id" }).New);

        Assert.Empty(await _db.Table.UpsertAsync([TsMatchRow.From(id, state)], events, mayBeWritten: false));
        Assert.Equal(2, await _db.ScalarAsync($"SELECT count(*) FROM match_events WHERE external_id = '{id}' AND kind = 'input_rejected'"));
        Assert.Equal(@"team\ud800", await _db.ScalarTextAsync($"SELECT new_value FROM match_events WHERE external_id = '{id}' AND field = 'away_team_id'"));
    }
}
