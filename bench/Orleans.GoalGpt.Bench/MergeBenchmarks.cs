using BenchmarkDotNet.Attributes;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Merge;

namespace Orleans.GoalGpt.Bench;

/// <summary>Micro-benchmarks of the pure merge rules (no I/O).</summary>
[MemoryDiagnoser]
public class MergeBenchmarks
{
    private readonly long _now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    private MatchUpdate _snapshot = null!;
    private MatchUpdate _stale = null!;
    private MatchState _state = null!;

    [GlobalSetup]
    public void Setup()
    {
        _snapshot = new MatchUpdate
        {
            Source = UpdateSource.Api, ObservedAtMs = _now - 1_000, StatusId = 4, ProviderUpdateTime = _now / 1000 - 1,
            HomeScores = [2, 1, 0, 1, 5, 0, 0], AwayScores = [1, 0, 0, 2, 3, 0, 0], PhaseKickoffTs = _now / 1000 - 1_200,
        };
        _stale = _snapshot with { ObservedAtMs = _now - 60_000, ProviderUpdateTime = null, Source = UpdateSource.Mqtt };
        _state = new MatchState();
        FieldMerge.Apply(_state, _snapshot, _now);
    }

    [Benchmark(Description = "fresh full snapshot into a new match")]
    public MergeOutcome FreshSnapshot() => FieldMerge.Apply(new MatchState(), _snapshot, _now);

    [Benchmark(Description = "duplicate snapshot (no-op)")]
    public MergeOutcome Duplicate() => FieldMerge.Apply(_state, _snapshot, _now);

    [Benchmark(Description = "stale push delta (rejected)")]
    public MergeOutcome Stale() => FieldMerge.Apply(_state, _stale, _now);

    [Benchmark(Description = "minute recompute")]
    public bool Minute() => MinuteClock.Recompute(_state, _now + 61_000);
}
