using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orleans.GoalGpt.Grains;
using Orleans.GoalGpt.Grains.Storage;
using Xunit;

namespace Orleans.GoalGpt.Tests.Merge;

/// <summary>The silo's ticker: who is ticked, how many ticks of one activation may be on their way at once, and its clock.</summary>
public sealed class MatchTickerTests
{
    private sealed class Activation : ITicked
    {
        public long Claimed;

        public bool Gone { get; set; }

        public long ClaimTick(long now, long notBefore) => MatchTicker.Claim(ref Claimed, now, notBefore);
    }

    /// <summary>Counts the ticker's claims and claims none (so nothing is sent).</summary>
    private sealed class Counted : ITicked
    {
        private int _claims;

        public int Claims => Volatile.Read(ref _claims);

        public bool Gone => false;

        public long ClaimTick(long now, long notBefore)
        {
            Interlocked.Increment(ref _claims);
            return 0;
        }
    }

    private static MatchTicker Ticker(TimeProvider? time = null, MatchGrainOptions? options = null, LockOptions? locks = null) =>
        new(null!, Options.Create(options ?? new MatchGrainOptions()), Options.Create(locks ?? new LockOptions()), time ?? TimeProvider.System,
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
    /// them decides the activation goes, the rest are forwarded to new activations. One tick at a time is sent, and only
    /// the tick a claim was made for frees it: the first tick, taken for lost and running late, does not free the claim
    /// of the one sent after it.
    /// </summary>
    [Fact]
    public void No_second_tick_is_claimed_while_one_is_on_its_way_unless_it_is_taken_for_lost()
    {
        var a = new Activation();
        var first = a.ClaimTick(now: 1_000, notBefore: 0);
        Assert.NotEqual(0, first);
        Assert.Equal(0, a.ClaimTick(now: 2_000, notBefore: 500)); // the first is on its way (claimed after 500)
        var second = a.ClaimTick(now: 5_000, notBefore: 1_000); // claimed at 1,000: taken for lost
        Assert.NotEqual(0, second);

        MatchTicker.Finished(ref a.Claimed, first); // the lost one ran after all
        Assert.Equal(0, a.ClaimTick(now: 5_100, notBefore: 4_000)); // the second is still on its way
        MatchTicker.Finished(ref a.Claimed, second);
        Assert.NotEqual(0, a.ClaimTick(now: 5_200, notBefore: 4_000)); // ran: the next may go
    }

    /// <summary>
    /// The interleaving: a tick period that is not a whole number of milliseconds per slot (the default lease of 7 s gives
    /// 7/3 s); a wake less than a millisecond before a slot is due asks Task.Delay for a remainder it rounds down to 0, and
    /// on a fake clock that completes inside the test's Advance again and again while the clock stands (issue 17's
    /// livelock). The ticker waits whole milliseconds: 50 advances of 1 s end, and each activation is claimed once a period.
    /// </summary>
    [Fact]
    public async Task On_a_fake_clock_the_ticker_claims_each_activation_once_a_period_and_never_spins()
    {
        var clock = new FakeTimeProvider();
        var ticker = Ticker(clock, new MatchGrainOptions { MinuteTickInterval = TimeSpan.FromSeconds(5) }, new LockOptions { LeaseTtl = TimeSpan.FromSeconds(7) });
        var counted = new Counted();
        var gone = new Activation { Gone = true }; // Orleans gave it up while it was activating: its ticks would start new activations
        ticker.Add("m1", counted);
        ticker.Add("m2", gone);
        ticker.Start();
        await Task.Run(async () =>
        {
            for (var i = 0; i < 50; i++)
            {
                clock.Advance(TimeSpan.FromSeconds(1));
                await Task.Delay(5); // the loop's continuation may run on the pool: let it catch up between steps
            }
        }).WaitAsync(TimeSpan.FromSeconds(30));
        await ticker.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));

        // 50 s at one tick per 7/3 s: 21 (a slot's share of the first period may fall either side of the end).
        Assert.InRange(counted.Claims, 20, 22);
        Assert.Equal(0, gone.Claimed);
        Assert.Equal(1, ticker.Count); // the gone one was taken out
    }
}
