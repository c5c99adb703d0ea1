using Orleans.GoalGpt.Grains.Merge;
using Orleans.Runtime;
using Orleans.Core;
using Orleans.Storage;

namespace Orleans.GoalGpt.Grains.Storage;

/// <summary>
/// A match activation's grain state, read and written through the silo's match-state storage (<see cref="MatchStateStore"/>)
/// directly: what Orleans' persistent-state facet does for a grain, without the facet's objects and lifecycle observer per
/// activation (memory per match: issue 13). The activation reads it itself, first thing in its activation; a migrated
/// activation reads it too (the facet would have carried the old one's memory, which is not wanted here: see MatchGrain).
/// </summary>
public sealed class MatchStateHolder(IGrainStorage storage, GrainId grainId) : IPersistentState<MatchState>, IGrainState<MatchState>
{
    /// <summary>The state's name in storage (as the facet named it).</summary>
    public const string Name = "match";

    public MatchState State { get; set; } = new();

    [System.Diagnostics.CodeAnalysis.AllowNull]
    MatchState IGrainState<MatchState>.State
    {
        get => State;
        set => State = value ?? new();
    }

    public string? ETag { get; set; }

    public bool RecordExists { get; set; }

    string? IStorage.Etag => ETag;

    public Task ReadStateAsync() => storage.ReadStateAsync(Name, grainId, this);

    public Task WriteStateAsync() => storage.WriteStateAsync(Name, grainId, this);

    public Task ClearStateAsync() => storage.ClearStateAsync(Name, grainId, this);
}
