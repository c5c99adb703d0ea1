namespace Orleans.GoalGpt.Abstractions;

/// <summary>
/// One per silo (keyed by its address, placed on it): answers how long ago that silo's lease renewer last got
/// an answer from Redis.
/// A silo cut from Redis only cannot read another silo's health from Redis; it asks the silo itself.
/// </summary>
[Alias("goalgpt.IRedisReachGrain")]
public interface IRedisReachGrain : IGrainWithStringKey
{
    /// <summary>Milliseconds since the silo this grain runs on last reached Redis; null when it runs on another silo than its key names.</summary>
    [Alias("SinceReachedRedisMs")]
    Task<long?> SinceReachedRedisMs();
}
