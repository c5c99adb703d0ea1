using Orleans.GoalGpt.Grains.Storage;

namespace Orleans.GoalGpt.Grains.Ownership;

/// <summary>
/// When an activation without a lease tries again: at once after a loss, then after each failed attempt
/// a doubling, jittered wait from <c>first</c> up to <c>max</c>; a success starts over. Only attempts
/// move it (a timer tick does not), on the monotonic clock.
/// </summary>
public sealed class LeaseBackoff(TimeSpan first, TimeSpan max)
{
    private TimeSpan _wait;
    private long _due;

    /// <summary>The wait before the next attempt (before jitter); zero until an attempt failed.</summary>
    public TimeSpan Wait => _wait;

    public bool Due => MatchLocks.Now >= _due;

    /// <summary>
    /// The lock is held elsewhere for <paramref name="remaining"/> (a crashed silo's lease runs out then): try
    /// right after, instead of waiting out a doubled backoff that can overshoot it by seconds.
    /// </summary>
    public void HeldFor(TimeSpan remaining)
    {
        _wait = remaining;
        _due = MatchLocks.Now + (long)((remaining.TotalSeconds + Random.Shared.NextDouble() * 0.2) * System.Diagnostics.Stopwatch.Frequency);
    }

    public void Failed()
    {
        _wait = _wait == TimeSpan.Zero ? first : _wait * 2 > max ? max : _wait * 2;
        // Half fixed, half random: activations that failed together do not retry together.
        var jittered = _wait / 2 + _wait / 2 * Random.Shared.NextDouble();
        _due = MatchLocks.Now + (long)(jittered.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
    }

    public void Succeeded()
    {
        _wait = TimeSpan.Zero;
        _due = 0;
    }
}
