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
        EndMs = endMs;
    }

    /// <summary>The end of the truth's window; with the seed it makes the same workload in another process.</summary>
    public long EndMs { get; }

    public int Seed => _seed;

    public string[] Ids { get; }

    /// <summary>Items in each producer's stream.</summary>
    public int Length { get; }

    public static ProducerKind[] Producers { get; } = Enum.GetValues<ProducerKind>();

    public MatchTruth Truth(string id) => _truth[id];

    /// <summary>
    /// Item <paramref name="i"/> of a producer's stream, computed on demand from (seed, producer, i):
    /// the same for the service and the baseline, and no heap of pre-built updates to distort GC.
    /// </summary>
    private static int Mix(int seed, int kind, int i)
    {
        var z = unchecked(((ulong)(uint)seed << 40) ^ ((ulong)(uint)kind << 32) ^ (uint)i) + 0x9E3779B97F4A7C15UL;
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return (int)(z ^ (z >> 31));
    }

    public WorkItem Item(ProducerKind kind, int i)
    {
        var rng = new Random(Mix(_seed, (int)kind, i)); // HashCode is seeded per process: the load generator is another one
        var id = Ids[rng.Next(Ids.Length)];
        if (kind == ProducerKind.MinuteClock) return new WorkItem(id, null);
        if (i > 0 && rng.Next(20) == 0) return Item(kind, i - 1); // duplicate delivery
        var t = _startMs + Window * i / Length;
        if (rng.Next(10) == 0) t -= rng.Next(1_000, 20_000); // late: out of order, often stale
        return new WorkItem(id, _truth[id].Observe(kind, t, zeroKickoff: rng.Next(50) == 0));
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

    /// <summary>
    /// What producer <paramref name="kind"/> sees at <paramref name="t"/>. As in the provider contract: a
    /// <c>recent/list</c> row (match sync) has a status and score arrays but no score array's
    /// <c>phase_kickoff_ts</c>; a <c>detail_live</c> snapshot or an MQTT delta carries the current phase's
    /// kick-off, 0 ("unknown") in <paramref name="zeroKickoff"/> cases (the simulator's ZeroKickoff fault).
    /// </summary>
    public MatchUpdate Observe(ProducerKind kind, long t, bool zeroKickoff = false)
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
        long? kickoff = kind == ProducerKind.MatchSync ? null
            : zeroKickoff ? 0
            : status == 2 ? Kickoff1 : status == 4 ? Kickoff2 : 0;
        return new MatchUpdate
        {
            Source = source,
            ObservedAtMs = t,
            StatusId = status,
            HomeScores = [home, 0, 0, (int)Math.Clamp((t / 1000 - Kickoff1) / 1800, 0, 5), (int)Math.Clamp((t / 1000 - Kickoff1) / 600, 0, 20), 0, 0],
            AwayScores = [away, 0, 0, 0, -1, 0, 0],
            PhaseKickoffTs = kickoff,
            ProviderUpdateTime = polled ? t / 1000 : null,
            MatchTime = kind == ProducerKind.MatchSync ? Kickoff1 : null,
            CompetitionId = kind == ProducerKind.MatchSync ? "comp_1" : null,
        };
    }
}

/// <summary>
/// The reference model of every tracked field the workload carries, per match, from the delivered updates
/// and the domain rules (last writer wins per field with its source priority on exact ties; kick-offs set
/// once; <c>provider_update_time</c> only grows; metadata from <c>api</c>), independent of the service's merge
/// code. Not modelled: rule 1's lagging-snapshot hold and rule 2's confirmed regressions (the workload's
/// truth never regresses a status; a held lower api score is superseded by the next push).
/// </summary>
public sealed class Model
{
    private readonly Dictionary<string, Expected> _matches = new(StringComparer.Ordinal);

    /// <summary>What one match's row must hold.</summary>
    public sealed class Expected
    {
        public (long Ts, int Prio, UpdateSource Src, int Value)? Status;
        public (long Ts, int Prio, UpdateSource Src, int Value)? Home;
        public (long Ts, int Prio, UpdateSource Src, int Value)? Away;
        public (long Ts, int Prio, int[] Value)? HomeRaw;
        public (long Ts, int Prio, int[] Value)? AwayRaw;
        public long? FirstKickoff;
        public long? SecondKickoff;
        public long? MatchTime;
        public string? CompetitionId;
        public long? ProviderUpdateTime;

        /// <summary>
        /// The newest provider change time among the updates that carried the kick-off, match time and
        /// competition (long.MaxValue: a push delta, never stale as a whole). Below the match's newest one, each
        /// such update may have arrived after a newer poll and been stale as a whole: whether the set-once value
        /// (or the metadata) was taken depends on the delivery order, so null is right too.
        /// </summary>
        public long FirstKickoffPut = long.MinValue;
        public long SecondKickoffPut = long.MinValue;
        public long MetadataPut = long.MinValue;

        /// <summary>
        /// Every pushed score per side. A poll within 30 s after a push of another value may have arrived while that
        /// push's value was stored (the producers' streams are delivered concurrently) and been held by rule 1, and a
        /// held poll changes nothing even once a push resolves it: the row may then show that push's value, or the
        /// winner's value with another observation's provenance.
        /// </summary>
        public List<(long Ts, int Value)> HomePushes { get; } = [];
        public List<(long Ts, int Value)> AwayPushes { get; } = [];

        /// <summary>Every delivered observation of the home score (time, source, value), for the report of a wrong field.</summary>
        public List<(long T, UpdateSource Src, int Home)> HomeSeen { get; } = [];

        public bool Optional(long carrierPut) => carrierPut != long.MaxValue && (ProviderUpdateTime is not long newest || carrierPut < newest);

        /// <summary>The values of the pushes rule 1 may have held <paramref name="winner"/> against (none: its outcome is decided).</summary>
        public static HashSet<int> Held((long Ts, int Prio, UpdateSource Src, int Value) winner, List<(long Ts, int Value)> pushes) =>
            winner.Src == UpdateSource.Mqtt ? []
                : pushes.Where(p => p.Value != winner.Value && p.Ts <= winner.Ts && winner.Ts - p.Ts < 30_000).Select(p => p.Value).ToHashSet();
    }

    public static Model Of(Workload workload, IReadOnlyDictionary<ProducerKind, int> delivered)
    {
        var model = new Model();
        foreach (var kind in Workload.Producers)
        {
            for (var i = 0; i < delivered.GetValueOrDefault(kind); i++)
            {
                var item = workload.Item(kind, i);
                if (item.Update is { } u) model.Observe(item.MatchId, u);
            }
        }

        return model;
    }

    private static int StatusPrio(UpdateSource s) => s switch { UpdateSource.Admin => 4, UpdateSource.Api => 3, UpdateSource.Watchdog => 2, _ => 1 };

    private static int ScorePrio(UpdateSource s) => s switch { UpdateSource.Admin => 4, UpdateSource.Mqtt => 3, UpdateSource.Watchdog => 2, _ => 1 };

    private static bool Newer(long ts, int prio, long storedTs, int storedPrio) => ts > storedTs || (ts == storedTs && prio > storedPrio);

    private void Observe(string id, MatchUpdate u)
    {
        if (!_matches.TryGetValue(id, out var e)) _matches[id] = e = new Expected();
        var t = u.ObservedAtMs;
        // provider_update_time only grows. An update older than one delivered before it is stale as a whole;
        // that changes none of the last-writer-wins fields (the newer one supersedes it), only maybe a kick-off.
        if (u.ProviderUpdateTime is long put && (e.ProviderUpdateTime is not long stored || put > stored)) e.ProviderUpdateTime = put;

        e.HomeSeen.Add((t, u.Source, u.HomeScores![0]));
        var sp = StatusPrio(u.Source);
        if (e.Status is not { } s || Newer(t, sp, s.Ts, s.Prio)) e.Status = (t, sp, u.Source, u.StatusId!.Value);
        var cp = ScorePrio(u.Source);
        if (e.Home is not { } h || Newer(t, cp, h.Ts, h.Prio)) e.Home = (t, cp, u.Source, u.HomeScores![0]);
        if (e.Away is not { } a || Newer(t, cp, a.Ts, a.Prio)) e.Away = (t, cp, u.Source, u.AwayScores![0]);
        if (u.Source == UpdateSource.Mqtt)
        {
            e.HomePushes.Add((t, u.HomeScores![0]));
            e.AwayPushes.Add((t, u.AwayScores![0]));
        }

        if (e.HomeRaw is not { } hr || Newer(t, sp, hr.Ts, hr.Prio)) e.HomeRaw = (t, sp, u.HomeScores!.ToArray());
        if (e.AwayRaw is not { } ar || Newer(t, sp, ar.Ts, ar.Prio)) e.AwayRaw = (t, sp, u.AwayScores!.ToArray());
        if (u.PhaseKickoffTs is > 0 and long k)
        {
            var carrier = u.ProviderUpdateTime ?? long.MaxValue;
            if (u.StatusId == 2)
            {
                e.FirstKickoff ??= k;
                e.FirstKickoffPut = Math.Max(e.FirstKickoffPut, carrier);
            }

            if (u.StatusId == 4)
            {
                e.SecondKickoff ??= k;
                e.SecondKickoffPut = Math.Max(e.SecondKickoffPut, carrier);
            }
        }

        if (u.MatchTime is long mt) e.MatchTime = mt;
        if (u.CompetitionId is { } c) e.CompetitionId = c;
        if (u.MatchTime is not null || u.CompetitionId is not null) e.MetadataPut = Math.Max(e.MetadataPut, u.ProviderUpdateTime ?? long.MaxValue);
    }

    public IEnumerable<string> Matches => _matches.Keys;

    public Expected Of(string id) => _matches[id];
}
