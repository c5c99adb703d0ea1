using Orleans.Concurrency;

namespace Orleans.GoalGpt.Abstractions;

/// <summary>
/// A change of tracked fields of one match, as its grain published it: the names of the fields whose
/// values changed (column names of <c>ts_matches</c>) and the whole match after the change.
/// </summary>
[GenerateSerializer, Immutable, Alias("goalgpt.MatchChange")]
public sealed record MatchChange(
    [property: Id(0)] IReadOnlyList<string> Changed,
    [property: Id(1)] MatchSnapshot Match);

/// <summary>
/// One silo's change hub (the SSE fan-out of <c>GET /v1/stream</c>), reached as a grain observer: every
/// silo forwards the changes its match grains publish to every silo's hub, one-way, in batches numbered
/// per sending silo (<paramref name="source"/>, <paramref name="batch"/>): one-way calls may be handled out of
/// order, and a hub puts each source's batches back in order.
/// </summary>
[Alias("goalgpt.IMatchChangeHub")]
public interface IMatchChangeHub : IGrainObserver
{
    [Alias("OnChanges"), OneWay]
    Task OnChanges(string source, long batch, IReadOnlyList<MatchChange> changes);
}

/// <summary>
/// Where the silos' change hubs find each other (key <see cref="FeedJobs.Key"/>): each silo registers its
/// hub every few seconds and gets the others back; a silo that stops registering is forgotten.
/// </summary>
[Alias("goalgpt.IMatchChangeHubRegistry")]
public interface IMatchChangeHubRegistry : IGrainWithStringKey
{
    [Alias("Register")]
    Task<IReadOnlyList<HubRegistration>> Register(HubRegistration hub);

    [Alias("Unregister")]
    Task Unregister(string silo);
}

/// <summary>A silo's hub as registered: the silo's address, the observer reference (null: a silo without a hub, asking only).</summary>
[GenerateSerializer, Immutable, Alias("goalgpt.HubRegistration")]
public sealed record HubRegistration(
    [property: Id(0)] string Silo,
    [property: Id(1)] IMatchChangeHub? Hub);
