using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.Runtime;

namespace Orleans.GoalGpt.Grains;

/// <summary>The tick of a match activation (minute, lease, state save, idle check), sent by its silo's <see cref="MatchTicker"/>.</summary>
[Alias("goalgpt.IMatchTick")]
public interface IMatchTick : IGrainWithStringKey
{
    /// <summary>The tick claimed with stamp <paramref name="claim"/> (<see cref="ITicked.ClaimTick"/>).</summary>
    [OneWay, Alias("Tick")]
    Task Tick(long claim);
}

/// <summary>An activation the <see cref="MatchTicker"/> ticks: at most one tick of it is on its way or running at a time.</summary>
public interface ITicked
{
    /// <summary>
    /// Claims the next tick at <paramref name="now"/> (a timestamp): its stamp, or 0 while an earlier one, claimed after
    /// <paramref name="notBefore"/>, has not finished. One claimed before that is taken for lost (a one-way call can be
    /// dropped, e.g. expired in an overloaded silo), so an activation is never left without ticks.
    /// </summary>
    long ClaimTick(long now, long notBefore);

    /// <summary>The activation is gone (Orleans' deactivation of it ended, whether or not it ran ours).</summary>
    bool Gone { get; }
}

/// <summary>
/// One timer for every match activation of the silo, instead of a grain timer each (a grain timer costs an activation
/// about 0.5 KiB: timer objects, a callback, a set in the activation). Every tick period (<see cref="Period"/>) each
/// registered activation is sent one <see cref="IMatchTick.Tick"/>, a one-way call that runs in its turn like any other
/// (never interleaved); the activations are spread over <see cref="Slots"/> slots of the period, so that matches
/// activated together do not tick together. An activation gets no second tick while one is on its way or running (a
/// long turn does not pile them up), as a grain timer did not fire again before its callback finished.
/// <para>
/// A call keeps an activation from Orleans' idle collection, so the activation checks its own idleness in the tick
/// (<see cref="MatchGrainOptions.IdleCollectionAge"/> since its last call other than a tick, on <see cref="IdleClock"/>).
/// An activation is removed before it goes (its deactivation, or its own decision to go); a tick already on its way to
/// one that goes is forwarded by Orleans to the match's next activation, which goes again at that tick.
/// </para>
/// </summary>
public sealed partial class MatchTicker : ILifecycleParticipant<ISiloLifecycle>
{
    public const int Slots = 20;
    private readonly ConcurrentDictionary<string, ITicked>[] _slots = Enumerable.Range(0, Slots).Select(_ => new ConcurrentDictionary<string, ITicked>(StringComparer.Ordinal)).ToArray();
    private readonly CancellationTokenSource _stop = new();
    private readonly IGrainFactory _grains;
    private readonly IOptions<MatchGrainOptions> _options;
    private readonly IOptions<LockOptions> _locks;
    private readonly TimeProvider _time;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<MatchTicker> _logger;
    private Task _loop = Task.CompletedTask;
    private int _next;

    public MatchTicker(IGrainFactory grains, IOptions<MatchGrainOptions> options, IOptions<LockOptions> locks, TimeProvider time, IServiceProvider services,
        IHostApplicationLifetime lifetime, ILogger<MatchTicker> logger)
    {
        (_grains, _options, _locks, _time, _lifetime, _logger) = (grains, options, locks, time, lifetime, logger);
        // Idleness on the clock Orleans' own collection uses (the system's, unless set apart); the ticks themselves on the
        // service's clock, as the grain timers were (tests that move a fake clock move the minute with it).
        IdleClock = services.GetKeyedService<TimeProvider>(TimeProviderNames.ActivationManagement) ?? TimeProvider.System;
    }

    /// <summary>The clock an activation's idleness is measured on (monotonic timestamps).</summary>
    public TimeProvider IdleClock { get; }

    /// <summary>The tick period: the minute's cadence, at most a third of the lease's time to live (the lease is checked in the tick).</summary>
    public TimeSpan Period => _options.Value.MinuteTickInterval < _locks.Value.LeaseTtl / 3 ? _options.Value.MinuteTickInterval : _locks.Value.LeaseTtl / 3;

    /// <summary>Activations registered (a gauge for tests and diagnostics).</summary>
    public int Count => _slots.Sum(s => s.Count);

    /// <summary>
    /// Ticks <paramref name="activation"/> of match <paramref name="matchId"/> from now on; returns its slot for <see cref="Remove"/>.
    /// A silo holds one activation of a match at a time: an entry of an earlier one still here (an activation Orleans gave up
    /// while it was activating, whose deactivation never ran) goes.
    /// </summary>
    public int Add(string matchId, ITicked activation)
    {
        foreach (var s in _slots) s.TryRemove(matchId, out _);
        var slot = (int)((uint)Interlocked.Increment(ref _next) % Slots);
        _slots[slot][matchId] = activation;
        return slot;
    }

    /// <summary>Stops ticking <paramref name="activation"/> (only it: a later activation of the match keeps its place).</summary>
    public void Remove(string matchId, int slot, ITicked activation) =>
        _slots[slot].TryRemove(KeyValuePair.Create(matchId, activation));

    /// <summary>
    /// <see cref="ITicked.ClaimTick"/> on an activation's field <paramref name="claimed"/> (the stamp of the tick on its way or
    /// running; 0: none): a new stamp when none is, or the one that is was claimed at or before <paramref name="notBefore"/>.
    /// </summary>
    public static long Claim(ref long claimed, long now, long notBefore)
    {
        var seen = Volatile.Read(ref claimed);
        if (seen != 0 && seen > notBefore) return 0;
        var stamp = Math.Max(now, seen + 1);
        return Interlocked.CompareExchange(ref claimed, stamp, seen) == seen ? stamp : 0;
    }

    /// <summary>
    /// The tick with stamp <paramref name="claim"/> ran: the next may be sent. Only that one frees the claim: a tick taken for
    /// lost that ran late, or one forwarded from an activation that went, leaves the current claim alone.
    /// </summary>
    public static void Finished(ref long claimed, long claim) => Interlocked.CompareExchange(ref claimed, 0, claim);

    void ILifecycleParticipant<ISiloLifecycle>.Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(MatchTicker), ServiceLifecycleStage.Active,
            _ =>
            {
                Start();
                return Task.CompletedTask;
            },
            // Before the silo deactivates its grains: no tick is then sent to one that is going.
            _ => StopAsync());

    /// <summary>Starts sending ticks (the silo's Active stage).</summary>
    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    /// <summary>Stops sending ticks and waits for the loop to end.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await _loop;
    }

    private async Task RunAsync(CancellationToken ct)
    {
        // Whole milliseconds: Task.Delay waits whole milliseconds, and a shorter remainder would wake it at once, again and
        // again, without the clock moving (on a fake clock, inside the test's Advance: a livelock, issue 17).
        var step = TimeSpan.FromMilliseconds(Math.Max(1, Math.Round(Period.TotalMilliseconds / Slots)));
        var stepTicks = (long)(step.TotalSeconds * _time.TimestampFrequency);
        var due = _time.GetTimestamp();
        var slot = 0;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var waitMs = Math.Ceiling((stepTicks - (_time.GetTimestamp() - due)) * 1000.0 / _time.TimestampFrequency);
                if (waitMs >= 1) await Task.Delay(TimeSpan.FromMilliseconds(waitMs), _time, ct).ConfigureAwait(false);

                // Every slot that came due since the last wake (a late wake, a clock moved on by more than a step): each
                // activation gets one tick per period at most, never a burst of them.
                for (var n = 0; n < Slots && _time.GetTimestamp() - due >= stepTicks; n++)
                {
                    Send(_slots[slot], stepTicks * Slots * 3);
                    slot = (slot + 1) % Slots;
                    due += stepTicks;
                }

                if (_time.GetTimestamp() - due >= stepTicks) due = _time.GetTimestamp(); // more than a period behind: start afresh
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // Not expected (sending is caught per activation): without ticks no minute moves and no lease is checked, so
            // the silo is told to stop rather than go on half alive.
            LogTickerFailed(ex);
            _lifetime.StopApplication();
        }
    }

    private void Send(ConcurrentDictionary<string, ITicked> slot, long lostAfterTicks)
    {
        var now = _time.GetTimestamp();
        foreach (var (id, activation) in slot)
        {
            if (activation.Gone)
            {
                // Gone without taking itself out (Orleans gave it up while it was activating): its ticks would only start
                // new activations of the match.
                slot.TryRemove(KeyValuePair.Create(id, activation));
                continue;
            }

            var claim = activation.ClaimTick(now, now - lostAfterTicks);
            if (claim == 0) continue;
            try
            {
                _grains.GetGrain<IMatchTick>(id).Tick(claim).Ignore();
            }
            catch (Exception ex)
            {
                LogTickFailed(ex, id);
            }
        }
    }

    [LoggerMessage(EventId = 1160, Level = LogLevel.Warning, Message = "Could not send match {MatchId} its tick")]
    private partial void LogTickFailed(Exception ex, string matchId);

    [LoggerMessage(EventId = 1161, Level = LogLevel.Critical, Message = "The match ticker failed; stopping the silo")]
    private partial void LogTickerFailed(Exception ex);
}
