using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Bench;

/// <summary>The five producers: one per job kind.</summary>
public enum ProducerKind { MatchSync, DetailLive, Mqtt, MinuteClock, Watchdog }

/// <summary>One item of a producer's stream: an update, or (minute clock) a minute refresh.</summary>
public readonly record struct WorkItem(string MatchId, MatchUpdate? Update);

/// <summary>
/// A seeded, realistic update mix for M live matches: each match has a true timeline (kick-off,
/// goals, one VAR cancellation, half-time); producers observe it at their times, some late
/// (out of order, stale), some twice (duplicates). The same streams feed the service and the baseline.
/// </summary>
public sealed class Workload
{
    private const long Window = 60_000;
    private readonly Dictionary<string, MatchTruth> _truth = new(StringComparer.Ordinal);
    private readonly long _startMs;
    private readonly int _seed;

    public Workload(int matches, int itemsPerProducer, long endMs, int seed)
    {
        var rng = new Random(seed);
        Ids = Enumerable.Range(0, matches).Select(i => $"b{matches}-{i}").ToArray();
        foreach (var id in Ids) _truth[id] = MatchTruth.Random(rng, endMs);
        Length = itemsPerProducer;
        _startMs = endMs - Window;
        _seed = seed;
    }

    public string[] Ids { get; }

    /// <summary>Items in each producer's stream.</summary>
    public int Length { get; }

    public static ProducerKind[] Producers { get; } = Enum.GetValues<ProducerKind>();

    public MatchTruth Truth(string id) => _truth[id];

    /// <summary>
    /// Item <paramref name="i"/> of a producer's stream, computed on demand from (seed, producer, i):
    /// the same for the service and the baseline, and no heap of pre-built updates to distort GC.
    /// </summary>
    public WorkItem Item(ProducerKind kind, int i)
    {
        var rng = new Random(HashCode.Combine(_seed, (int)kind, i));
        var id = Ids[rng.Next(Ids.Length)];
        if (kind == ProducerKind.MinuteClock) return new WorkItem(id, null);
        if (i > 0 && rng.Next(20) == 0) return Item(kind, i - 1); // duplicate delivery
        var t = _startMs + Window * i / Length;
        if (rng.Next(10) == 0) t -= rng.Next(1_000, 20_000); // late: out of order, often stale
        return new WorkItem(id, _truth[id].Observe(kind, t));
    }
}

/// <summary>What a match really is at any moment.</summary>
public sealed record MatchTruth(long Kickoff1, long[] HomeGoals, long[] AwayGoals, long VarCancelAt)
{
    public static MatchTruth Random(Random rng, long endMs)
    {
        var kickoff1 = endMs / 1000 - rng.Next(5 * 60, 100 * 60);
        long[] Goals() => Enumerable.Range(0, rng.Next(0, 6)).Select(_ => endMs - rng.Next(0, 120_000)).Order().ToArray();
        return new MatchTruth(kickoff1, Goals(), Goals(), endMs - rng.Next(0, 60_000));
    }

    public long Kickoff2 => Kickoff1 + 60 * 60;

    public int Status(long tMs)
    {
        var elapsed = tMs / 1000 - Kickoff1;
        return elapsed < 45 * 60 ? 2 : elapsed < 60 * 60 ? 3 : 4;
    }

    public (int Home, int Away) Score(long tMs)
    {
        var home = HomeGoals.Count(g => g <= tMs);
        var away = AwayGoals.Count(g => g <= tMs);
        if (home > 0 && tMs >= VarCancelAt && HomeGoals[0] <= VarCancelAt) home--; // a goal disallowed by VAR
        return (home, away);
    }

    public MatchUpdate Observe(ProducerKind kind, long t)
    {
        var status = Status(t);
        var (home, away) = Score(t);
        var source = kind switch
        {
            ProducerKind.Mqtt => UpdateSource.Mqtt,
            ProducerKind.Watchdog => UpdateSource.Watchdog,
            _ => UpdateSource.Api,
        };
        var polled = source != UpdateSource.Mqtt;
        return new MatchUpdate
        {
            Source = source,
            ObservedAtMs = t,
            StatusId = status,
            HomeScores = [home, 0, 0, (int)Math.Clamp((t / 1000 - Kickoff1) / 1800, 0, 5), (int)Math.Clamp((t / 1000 - Kickoff1) / 600, 0, 20), 0, 0],
            AwayScores = [away, 0, 0, 0, -1, 0, 0],
            PhaseKickoffTs = status == 2 ? Kickoff1 : status == 4 ? Kickoff2 : 0,
            ProviderUpdateTime = polled ? t / 1000 : null,
            MatchTime = kind == ProducerKind.MatchSync ? Kickoff1 : null,
            CompetitionId = kind == ProducerKind.MatchSync ? "comp_1" : null,
        };
    }
}

/// <summary>
/// The reference model: per match, the newest delivered observation of status and of the score,
/// source priority on exact ties (domain rules). Independent of the service's merge code.
/// </summary>
public sealed class Model
{
    private readonly Dictionary<string, (long Ts, int Prio, int Value)> _status = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long Ts, int Prio, int Home, int Away)> _score = new(StringComparer.Ordinal);

    public static Model Of(Workload workload, IReadOnlyDictionary<ProducerKind, int> delivered)
    {
        var model = new Model();
        foreach (var kind in Workload.Producers)
        {
            for (var i = 0; i < delivered[kind]; i++)
            {
                var item = workload.Item(kind, i);
                if (item.Update is { } u) model.Observe(item.MatchId, u);
            }
        }

        return model;
    }

    private static int StatusPrio(UpdateSource s) => s switch { UpdateSource.Admin => 4, UpdateSource.Api => 3, UpdateSource.Watchdog => 2, _ => 1 };

    private static int ScorePrio(UpdateSource s) => s switch { UpdateSource.Admin => 4, UpdateSource.Mqtt => 3, UpdateSource.Watchdog => 2, _ => 1 };

    private void Observe(string id, MatchUpdate u)
    {
        var sp = StatusPrio(u.Source);
        if (!_status.TryGetValue(id, out var s) || u.ObservedAtMs > s.Ts || (u.ObservedAtMs == s.Ts && sp > s.Prio))
        {
            _status[id] = (u.ObservedAtMs, sp, u.StatusId!.Value);
        }

        var cp = ScorePrio(u.Source);
        if (!_score.TryGetValue(id, out var c) || u.ObservedAtMs > c.Ts || (u.ObservedAtMs == c.Ts && cp > c.Prio))
        {
            _score[id] = (u.ObservedAtMs, cp, u.HomeScores![0], u.AwayScores![0]);
        }
    }

    public IEnumerable<string> Matches => _status.Keys;

    public int Status(string id) => _status[id].Value;

    public (int Home, int Away) Score(string id) => (_score[id].Home, _score[id].Away);
}
