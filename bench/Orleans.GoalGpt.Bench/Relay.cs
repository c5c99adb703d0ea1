using Orleans.Concurrency;
using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Bench;

/// <summary>One item the load generator sends: an update for a match, or (null) a minute refresh.</summary>
[GenerateSerializer, Immutable, Alias("bench.RelayItem")]
public sealed record RelayItem([property: Id(0)] string MatchId, [property: Id(1)] MatchUpdate? Update);

/// <summary>
/// The silo-side end of the load generator: a batch of items in, fanned out to the match grains in the
/// silo, the way the feed grains hand a <c>detail_live</c> answer or an MQTT message (up to 20 deltas) to
/// their matches. The load generator runs in its own process, so the silo's CPU is measured apart from it.
/// </summary>
[Alias("bench.IRelayGrain")]
public interface IRelayGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Per item: 0 taken (or a minute refresh done), 1 refused retryably (<c>backlog_full</c>), 2 taken but its status or
    /// a score held by a rule (an unconfirmed regression or score drop, an admin value): by the rules it does not
    /// reach the row now, so the lag sampler leaves it out.
    /// </summary>
    [Alias("Apply")]
    Task<byte[]> Apply(RelayItem[] items);
}

[StatelessWorker, Reentrant]
public sealed class RelayGrain : Grain, IRelayGrain
{
    public async Task<byte[]> Apply(RelayItem[] items)
    {
        var calls = new Task<byte>[items.Length];
        for (var i = 0; i < items.Length; i++) calls[i] = ApplyOne(items[i]);
        await Task.WhenAll(calls);
        var result = new byte[items.Length];
        for (var i = 0; i < items.Length; i++) result[i] = calls[i].Result;
        return result;
    }

    private async Task<byte> ApplyOne(RelayItem item)
    {
        var grain = GrainFactory.GetGrain<IMatchGrain>(item.MatchId);
        if (item.Update is not { } u)
        {
            await grain.RefreshMinute();
            return 0;
        }

        var answer = await grain.Apply(u);
        if (answer.Fields.Any(f => f.Reason == RejectReasons.BacklogFull)) return 1;
        return answer.Fields.Any(f => f.Reason is RejectReasons.UnconfirmedRegression or RejectReasons.UnconfirmedScoreDrop or RejectReasons.AdminHeld
            && f.Field is "status_id" or "home_score" or "away_score") ? (byte)2 : (byte)0;
    }
}
