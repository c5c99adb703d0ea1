using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Merge;
using Xunit;

namespace Orleans.GoalGpt.Tests.Merge;

/// <summary>
/// A set kick-off replaced by an admin is a real overwrite and is reported as such
/// (<see cref="KickoffChanged"/>, counted as goalgpt_kickoff_changes_total); a blocked attempt is not.
/// </summary>
public sealed class KickoffChangeTests
{
    private static MatchUpdate Kickoff(UpdateSource source, long observedAtMs, long firstHalf) => new()
    {
        Source = source,
        ObservedAtMs = observedAtMs,
        StatusId = 2,
        FirstHalfKickoffTs = firstHalf,
    };

    [Fact]
    public void An_admin_replacing_a_set_kickoff_reports_the_change_and_a_refused_source_reports_only_the_block()
    {
        var state = new MatchState();
        var set = Updates.NowS - 600;
        var first = FieldMerge.Apply(state, Kickoff(UpdateSource.Api, Updates.Now - 60_000, set), Updates.Now);
        Assert.DoesNotContain(first.Events, e => e is KickoffChanged); // first value: set, not changed

        var blocked = FieldMerge.Apply(state, Kickoff(UpdateSource.Watchdog, Updates.Now - 30_000, set + 60), Updates.Now);
        Assert.Contains(blocked.Events, e => e is KickoffOverwriteBlocked);
        Assert.DoesNotContain(blocked.Events, e => e is KickoffChanged);

        var same = FieldMerge.Apply(state, Kickoff(UpdateSource.Admin, Updates.Now - 20_000, set), Updates.Now);
        Assert.DoesNotContain(same.Events, e => e is KickoffChanged); // the same value: nothing changed

        var changed = FieldMerge.Apply(state, Kickoff(UpdateSource.Admin, Updates.Now - 10_000, set - 120), Updates.Now);
        Assert.Equal(new KickoffChanged("first_half_kickoff_ts", set, set - 120), Assert.Single(changed.Events.OfType<KickoffChanged>()));
        Assert.Equal(set - 120, state.FirstHalfKickoff!.Value);
    }
}
