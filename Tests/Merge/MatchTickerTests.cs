using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Grains;
using Xunit;

namespace Orleans.GoalGpt.Tests.Merge;

/// <summary>The silo's ticker: who is ticked, and how many ticks of one activation may be on their way at once.</summary>
public sealed class MatchTickerTests
{
    private sealed class Activation : ITicked
    {
        public long Claimed;

        public bool ClaimTick(long now, long notBefore) => MatchTicker.Claim(ref Claimed, now, notBefore);
    }

    private static MatchTicker Ticker() => new(null!, Options.Create(new MatchGrainOptions()), null!, TimeProvider.System,
        new ServiceCollection().BuildServiceProvider(), null!, NullLogger<MatchTicker>.Instance);

    /// <summary>
    /// The interleaving: Orleans gives an activation up while it is still activating (its activation timed out) and never
    /// runs its deactivation, so it never takes itself out; every tick sent for it starts a new activation of the match.
    /// The next activation of the match on the silo replaces its entry.
    /// </summary>
    [Fact]
    public void An_activation_of_a_match_replaces_an_earlier_one_that_never_took_itself_out()
    {
        var ticker = Ticker();
        var abandoned = new Activation();
        var next = new Activation();
        var abandonedSlot = ticker.Add("m1", abandoned);
        ticker.Add("m2", new Activation());
        var nextSlot = ticker.Add("m1", next);
        Assert.Equal(2, ticker.Count);

        ticker.Remove("m1", abandonedSlot, abandoned); // the earlier one cannot take the later one out
        Assert.Equal(2, ticker.Count);
        ticker.Remove("m1", nextSlot, next);
        Assert.Equal(1, ticker.Count);
    }

    /// <summary>
    /// The interleaving: an activation's turn runs longer than a tick period (a correction waiting for its row, a lease
    /// attempt waiting on a timeout) while the ticker goes on sending; the ticks queue behind it, and when the first of
    /// them decides the activation goes, the rest are forwarded to new activations. One tick at a time is sent.
    /// </summary>
    [Fact]
    public void No_second_tick_is_claimed_while_one_is_on_its_way_unless_it_is_taken_for_lost()
    {
        var a = new Activation();
        Assert.True(a.ClaimTick(now: 1_000, notBefore: 0));
        Assert.False(a.ClaimTick(now: 2_000, notBefore: 500)); // the first is on its way (claimed after 500)
        Assert.True(a.ClaimTick(now: 5_000, notBefore: 1_000)); // claimed at 1,000: taken for lost
        MatchTicker.Finished(ref a.Claimed);
        Assert.True(a.ClaimTick(now: 5_100, notBefore: 4_000)); // ran: the next may go
    }
}
