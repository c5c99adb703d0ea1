using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Merge;
using Xunit;
using static Orleans.GoalGpt.Tests.Merge.Updates;

namespace Orleans.GoalGpt.Tests.Merge;

/// <summary>Competition and team ids: one string per value across the matches that keep it.</summary>
public sealed class IdStringsTests
{
    [Fact]
    public void Two_matches_given_the_same_competition_id_keep_one_string()
    {
        var a = new MatchState();
        var b = new MatchState();
        FieldMerge.Apply(a, Score(UpdateSource.Api, Now, 1, 0, 0) with { CompetitionId = new string("comp-shared".AsSpan()) }, Now);
        FieldMerge.Apply(b, Score(UpdateSource.Api, Now, 1, 0, 0) with { CompetitionId = new string("comp-shared".AsSpan()) }, Now);
        Assert.Equal("comp-shared", a.CompetitionId!.Value);
        Assert.Same(a.CompetitionId.Value, b.CompetitionId!.Value);
    }
}
