namespace Orleans.GoalGpt.Abstractions;

/// <summary>
/// One per silo (keyed by its address, placed on it): answers whether that silo reaches Redis now and how long
/// ago its lease renewer last got an answer from Redis. A silo cut from Redis only cannot read another silo's
/// health from Redis; it asks the silo itself.
/// </summary>
[Alias("goalgpt.IRedisReachGrain")]
public interface IRedisReachGrain : IGrainWithStringKey
{
    /// <summary>The answer of the silo this grain runs on; null when it runs on another silo than its key names.</summary>
    [Alias("Reach")]
    Task<RedisReachAnswer?> Reach();
}

/// <summary>A silo's view of its own Redis: it reaches it now (leases can be had and kept there), and since when its renewer got no answer.</summary>
[GenerateSerializer, Immutable, Alias("goalgpt.RedisReachAnswer")]
public sealed record RedisReachAnswer([property: Id(0)] bool ReachesNow, [property: Id(1)] long SinceRenewerReachedMs);
