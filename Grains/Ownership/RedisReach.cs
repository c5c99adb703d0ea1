using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.Placement;
using StackExchange.Redis;

namespace Orleans.GoalGpt.Grains.Ownership;

/// <summary>
/// Which silos of the cluster reach Redis, as far as this silo knows: itself from its lease renewer
/// (<see cref="MatchLocks.ReachesRedis"/>) and a ping of its grains' connection, the others by asking each one every <see cref="ProbeInterval"/>
/// (<see cref="IRedisReachGrain"/>; a silo cut from Redis only cannot read anything from Redis, so the
/// answer cannot be kept there). Used by the match placement filter (<see cref="RedisReachableFilterDirector"/>)
/// and by activations whose lease lapsed (<see cref="ShouldMove"/>).
/// </summary>
public sealed partial class RedisReach(
    MatchLocks locks,
    IConnectionMultiplexer redis,
    ILocalSiloDetails local,
    IClusterMembershipService membership,
    IGrainFactory grains,
    ILogger<RedisReach> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>How often every other silo is asked.</summary>
    public static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(2);

    /// <summary>
    /// At most this many activations per second leave a silo cut from Redis: each move costs the receiving
    /// silo an activation (state and row read, a lease); 100,000 matches whose leases lapsed in one renewal
    /// round must not arrive there at once.
    /// </summary>
    public const int MaxMovesPerSecond = 500;

    private static long Ticks(TimeSpan t) => (long)(t.TotalSeconds * Stopwatch.Frequency);

    // An answer older than this says nothing any more (the silo did not answer since: it is slow, or gone).
    private readonly long _freshTicks = Math.Max(3 * Ticks(ProbeInterval), Ticks(locks.Ttl));
    private readonly ConcurrentDictionary<SiloAddress, Peer> _peers = new();

    /// <summary>
    /// What a peer last said: whether it reaches Redis now, its renewer's last answer from Redis and when it was
    /// asked (both on this silo's clock), and since when it has said it reaches Redis without a break.
    /// </summary>
    private readonly record struct Peer(bool ReachesNow, long ReachedAt, long AskedAt, long ReachingSince);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _movesGate = new();
    private long _movesSecond;
    private int _moves;
    private Task _loop = Task.CompletedTask;
    private bool _reported = true;

    private volatile bool _muxFailing;

    /// <summary>
    /// This silo reaches Redis: its renewer's connection got an answer within two renewal rounds, and the last
    /// ping on its grains' connection (lease takes, releases) did not fail. A slow ping (a busy thread pool)
    /// counts as nothing: only the renewer's own thread judges by time.
    /// </summary>
    public bool Self => locks.ReachesRedis && !_muxFailing;

    /// <summary>For <see cref="IRedisReachGrain"/>: whether this silo reaches Redis now, and how long ago its renewer last did.</summary>
    public RedisReachAnswer Answer => new(Self, (long)Stopwatch.GetElapsedTime(locks.LastReachedRedis).TotalMilliseconds);

    /// <summary>
    /// False only for a silo known not to reach Redis: this one by <see cref="Self"/>, another by a fresh answer
    /// of its own saying so. A silo that has not answered lately is not excluded (membership decides whether it
    /// is alive).
    /// </summary>
    public bool Serves(SiloAddress silo)
    {
        if (silo.Equals(local.SiloAddress)) return Self;
        return !(_peers.TryGetValue(silo, out var p) && Fresh(p.AskedAt) && !p.ReachesNow);
    }

    /// <summary>
    /// An activation without a valid lease should leave this silo for another. All of: this silo's renewer has
    /// had no answer from Redis for a TTL and two renewal periods (its leases are gone, and it is no hiccup);
    /// another active silo says, freshly, that it reaches Redis now, has said so without a break for a TTL, and
    /// its renewer got an answer two renewal periods or more after this silo's got its last. Renewers answer
    /// every renewal period, so when Redis itself is down, restarts or fails over, every silo's last answer
    /// lies within one period of the others': nothing moves, and no silo sends its matches to one that cannot
    /// take leases either.
    /// </summary>
    public bool ShouldMove
    {
        get
        {
            if (Self) return false;
            var now = Stopwatch.GetTimestamp();
            var mine = locks.LastReachedRedis;
            var ttl = Ticks(locks.Ttl);
            var margin = 2 * ttl / 3;
            if (now - mine < ttl + margin) return false;
            return membership.CurrentSnapshot.Members.Values.Any(m =>
                m.Status == SiloStatus.Active && !m.SiloAddress.Equals(local.SiloAddress)
                && _peers.TryGetValue(m.SiloAddress, out var p) && Fresh(p.AskedAt) && p.ReachesNow
                && now - p.ReachingSince >= ttl && p.ReachedAt > mine + margin);
        }
    }

    /// <summary>One move admitted under <see cref="MaxMovesPerSecond"/>; false: try again on the next tick.</summary>
    public bool TryStartMove()
    {
        var second = Stopwatch.GetTimestamp() / Stopwatch.Frequency;
        lock (_movesGate)
        {
            if (second != _movesSecond)
            {
                _movesSecond = second;
                _moves = 0;
            }

            if (_moves >= MaxMovesPerSecond) return false;
            _moves++;
            return true;
        }
    }

    private bool Fresh(long at) => Stopwatch.GetTimestamp() - at < _freshTicks;

    public void Participate(ISiloLifecycle lifecycle)
    {
        // The renewer's first round answers before the silo serves: no silo is judged on no data.
        lifecycle.Subscribe(nameof(RedisReach) + ".Renewer", ServiceLifecycleStage.RuntimeInitialize, _ =>
        {
            locks.StartRenewer();
            return Task.CompletedTask;
        });
        lifecycle.Subscribe(
            nameof(RedisReach),
            ServiceLifecycleStage.Active,
            _ =>
            {
                _loop = Task.Run(() => ProbeLoopAsync(_stopping.Token));
                return Task.CompletedTask;
            },
            async _ =>
            {
                await _stopping.CancelAsync();
                await _loop.ConfigureAwait(false);
            });
    }

    private async Task ProbeLoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(ProbeInterval);
        try
        {
            await PingAsync().ConfigureAwait(false); // at once: the silo is not judged on its start-up time
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                var ping = PingAsync();
                var self = Self;
                if (self != _reported)
                {
                    _reported = self;
                    if (self) LogReachesAgain();
                    else LogCannotReach();
                }

                var peers = membership.CurrentSnapshot.Members.Values
                    .Where(m => m.Status == SiloStatus.Active && !m.SiloAddress.Equals(local.SiloAddress))
                    .Select(m => m.SiloAddress)
                    .ToList();
                await Task.WhenAll(peers.Select(p => AskAsync(p, ct)).Append(ping)).ConfigureAwait(false);
                foreach (var gone in _peers.Keys.Except(peers).ToList()) _peers.TryRemove(gone, out _);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private async Task PingAsync()
    {
        try
        {
            // Bounded by the connection's own timeout (AsyncTimeout, at most 2 s).
            await redis.GetDatabase().PingAsync().ConfigureAwait(false);
            _muxFailing = false;
        }
        catch (RedisServerException)
        {
            // An error reply (e.g. an ACL without PING) is an answer all the same.
            _muxFailing = false;
        }
        catch (Exception)
        {
            _muxFailing = true;
        }
    }

    private async Task AskAsync(SiloAddress silo, CancellationToken ct)
    {
        var asked = Stopwatch.GetTimestamp();
        try
        {
            var answer = await grains.GetGrain<IRedisReachGrain>(silo.ToParsableString()).Reach()
                .WaitAsync(ProbeInterval, ct).ConfigureAwait(false);
            if (answer is { } a)
            {
                // Its renewer's last answer from Redis on this silo's clock, as early as it can have been (asked - age).
                var reachedAt = asked - (long)(a.SinceRenewerReachedMs / 1000.0 * Stopwatch.Frequency);
                _peers.AddOrUpdate(silo,
                    _ => new Peer(a.ReachesNow, reachedAt, asked, asked),
                    (_, before) =>
                    {
                        var next = new Peer(a.ReachesNow, reachedAt, asked, before.ReachingSince);
                        // A break (it said it did not reach Redis, or it did not answer for a while) starts the count again.
                        return next.ReachesNow && before.ReachesNow && Fresh(before.AskedAt) ? next : next with { ReachingSince = asked };
                    });
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // No answer: nothing learned (an older answer goes stale by itself).
        }
    }

    [LoggerMessage(EventId = 3060, Level = LogLevel.Warning, Message = "This silo cannot reach Redis: new match activations are placed on other silos, and matches whose lease lapses move to one that reaches it")]
    private partial void LogCannotReach();

    [LoggerMessage(EventId = 3061, Level = LogLevel.Information, Message = "This silo reaches Redis again: matches are placed on it again")]
    private partial void LogReachesAgain();
}

/// <summary>A silo's answer to <see cref="IRedisReachGrain"/>; see <see cref="RedisReach"/>.</summary>
[SiloPinnedPlacement]
public sealed class RedisReachGrain(RedisReach reach, ILocalSiloDetails local) : Grain, IRedisReachGrain
{
    public Task<RedisReachAnswer?> Reach()
    {
        if (this.GetPrimaryKeyString() == local.SiloAddress.ToParsableString()) return Task.FromResult<RedisReachAnswer?>(reach.Answer);
        // Activated elsewhere than on the silo it speaks for (its silo was not a candidate then): say nothing.
        this.DeactivateOnIdle();
        return Task.FromResult<RedisReachAnswer?>(null);
    }
}

/// <summary>Placement filter of match grains: silos known not to reach Redis are left out (<see cref="RedisReach.Serves"/>).</summary>
[GenerateSerializer, Immutable]
public sealed class RedisReachableFilter() : PlacementFilterStrategy(order: 0);

/// <summary>Places an activation only on silos that reach Redis, where any is known to.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class RedisReachableFilterAttribute() : PlacementFilterAttribute(new RedisReachableFilter());

/// <summary>
/// Leaves out the silos that cannot take a lease (<see cref="RedisReach.Serves"/>); when that would leave
/// none (Redis itself down), every candidate stays: an activation accepts in memory until Redis is back.
/// </summary>
public sealed class RedisReachableFilterDirector(RedisReach reach) : IPlacementFilterDirector
{
    public IEnumerable<SiloAddress> Filter(PlacementFilterStrategy filterStrategy, PlacementTarget target, IEnumerable<SiloAddress> silos)
    {
        var candidates = silos as IReadOnlyCollection<SiloAddress> ?? silos.ToList();
        var serving = candidates.Where(reach.Serves).ToList();
        return serving.Count > 0 ? serving : candidates;
    }
}

/// <summary>Placement of a grain keyed by a silo address (<see cref="SiloAddress.ToParsableString"/>) on that silo.</summary>
[GenerateSerializer, Immutable]
public sealed class SiloPinnedPlacement : PlacementStrategy;

/// <summary>Places the grain on the silo its key names (<see cref="SiloPinnedPlacement"/>).</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SiloPinnedPlacementAttribute() : PlacementAttribute(new SiloPinnedPlacement());

/// <summary>
/// The silo the key names when it is a candidate; otherwise any candidate (the grain then finds that it is not
/// on its silo, answers nothing and deactivates).
/// </summary>
public sealed class SiloPinnedPlacementDirector : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var candidates = context.GetCompatibleSilos(target);
        var key = target.GrainIdentity.Key.ToString();
        var named = candidates.FirstOrDefault(s => s.ToParsableString() == key);
        return Task.FromResult(named ?? candidates[Random.Shared.Next(candidates.Length)]);
    }
}
