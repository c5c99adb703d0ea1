using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Grains.Changes;

/// <summary>
/// Which silos have a change hub, kept in memory: every silo registers every 5 s, so an activation that
/// moved (its silo died) is complete again within that; an entry not renewed for 30 s is forgotten.
/// </summary>
public sealed class MatchChangeHubRegistry(TimeProvider time) : Grain, IMatchChangeHubRegistry
{
    private static readonly TimeSpan Expiry = TimeSpan.FromSeconds(30);
    private readonly Dictionary<string, (HubRegistration Hub, DateTimeOffset Seen)> _hubs = new(StringComparer.Ordinal);

    public Task<IReadOnlyList<HubRegistration>> Register(HubRegistration hub)
    {
        var now = time.GetUtcNow();
        if (hub.Hub is not null) _hubs[hub.Silo] = (hub, now);
        foreach (var old in _hubs.Where(h => now - h.Value.Seen > Expiry).Select(h => h.Key).ToList()) _hubs.Remove(old);
        return Task.FromResult<IReadOnlyList<HubRegistration>>(_hubs.Values.Select(h => h.Hub).ToList());
    }

    public Task Unregister(string silo)
    {
        _hubs.Remove(silo);
        return Task.CompletedTask;
    }
}
