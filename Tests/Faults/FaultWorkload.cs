using System.Collections.Concurrent;
using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Tests.Faults;

/// <summary>
/// How a match's truth is observed. The classes keep the workload clear of the lagging-score rule
/// (domain rule 1: a lower api score within 30 s of a push), which this suite does not test:
/// a score goes down only where pushes and polls never both carry it.
/// </summary>
internal enum TruthClass
{
    /// <summary>Scores only go up; every source carries status and scores; forward phase changes during the run.</summary>
    Plain,

    /// <summary>Goals and VAR cancellations; scores only by push (polls carry status and metadata).</summary>
    VarPush,

    /// <summary>Goals and VAR cancellations; no push at all for the match.</summary>
    VarPoll,

    /// <summary>The provider moves the status back (4 -> 2) during the run; only polls carry status, so the move is confirmed by two polls >= 5 s apart.</summary>
    Regression,
}

/// <summary>One match's true state as a function of real time (unix ms) during the run.</summary>
internal sealed class MatchTruth
{
    public required string Id { get; init; }
    public required int Index { get; init; }
    public required TruthClass Class { get; init; }
    public required long MatchTime { get; init; }
    public required long Kickoff1 { get; init; }
    public long? Kickoff2 { get; init; }

    /// <summary>Status from each moment on, in time order; the first entry covers everything before.</summary>
    public required (long At, int Status)[] Phases { get; init; }

    public required int BaseHome { get; init; }
    public required int BaseAway { get; init; }
    public required long[] HomeGoals { get; init; }
    public required long[] AwayGoals { get; init; }
    public required long[] HomeCancels { get; init; }
    public required long[] AwayCancels { get; init; }
    public required long RunStart { get; init; }
    public long? CompetitionChangeAt { get; init; }

    /// <summary>
    /// From then on no source reports the match (it went quiet): what it had acknowledged last must be
    /// in its row, with no later poll to cover a loss. Null: reported until the run ends.
    /// </summary>
    public long? QuietAt { get; init; }

    public bool Reported(long t) => QuietAt is not long q || t < q;

    public bool HasPush => Class != TruthClass.VarPoll;
    public bool StatusByPush => Class is TruthClass.Plain or TruthClass.VarPush;
    public bool ScoresByPush => Class != TruthClass.VarPoll;
    public bool ScoresByPoll => Class != TruthClass.VarPush;

    /// <summary>A one-off lower status (1) is a regression only where the truth never shows 1 during the run.</summary>
    public bool GlitchAllowed => StatusByPush && Phases[0].Status >= 2;

    public int StatusAt(long t)
    {
        var status = Phases[0].Status;
        foreach (var (at, s) in Phases)
        {
            if (at <= t) status = s;
        }

        return status;
    }

    public long? KickoffFor(int status) => status == 2 ? Kickoff1 : status == 4 ? Kickoff2 : null;

    public int HomeAt(long t) => BaseHome + HomeGoals.Count(g => g <= t) - HomeCancels.Count(c => c <= t);

    public int AwayAt(long t) => BaseAway + AwayGoals.Count(g => g <= t) - AwayCancels.Count(c => c <= t);

    public string CompetitionAt(long t) => CompetitionChangeAt is long c && t >= c ? $"c{Index % 7}b" : $"c{Index % 7}";

    /// <summary>What <paramref name="source"/> sees of the match at <paramref name="t"/>.</summary>
    public MatchUpdate Observe(UpdateSource source, long t)
    {
        var status = StatusAt(t);
        var push = source == UpdateSource.Mqtt;
        var withStatus = !push || StatusByPush;
        var withScores = push ? ScoresByPush : ScoresByPoll;
        var since = Math.Max(0, t - RunStart);
        var corners = (int)Math.Min(99, since / 6_000 + Index % 3);
        var yellow = (int)Math.Min(9, since / 15_000);
        // The provider leaves the phase's kick-off out (0) in some snapshots.
        long? phaseKickoff = withStatus && KickoffFor(status) is long k ? (t / 7 % 5 == 0 ? 0 : k) : null;
        var polled = !push;
        return new MatchUpdate
        {
            Source = source,
            ObservedAtMs = t,
            StatusId = withStatus ? status : null,
            HomeScores = withScores ? [HomeAt(t), 0, 0, yellow, corners, 0, 0] : null,
            AwayScores = withScores ? [AwayAt(t), 0, 0, 0, corners / 2, 0, 0] : null,
            PhaseKickoffTs = phaseKickoff,
            ProviderUpdateTime = polled ? t / 1000 : null,
            MatchTime = polled ? MatchTime : null,
            CompetitionId = polled ? CompetitionAt(t) : null,
            HomeTeamId = polled ? $"h{Index}" : null,
            AwayTeamId = polled ? $"a{Index}" : null,
        };
    }
}

/// <summary>Seeded match truths for a run of <c>durationMs</c> starting at <c>runStart</c> (real unix ms).</summary>
internal static class FaultWorkload
{
    /// <param name="quiet">Half the matches go quiet at a moment spread over the last 80 % of the run.</param>
    public static List<MatchTruth> Build(string prefix, int matches, long runStart, long durationMs, int seed, bool quiet = true)
    {
        var rng = new Random(seed);
        var s0 = runStart / 1000;
        var truths = new List<MatchTruth>(matches);
        for (var m = 0; m < matches; m++)
        {
            var cls = (TruthClass)(m % 4);
            var t1 = runStart + (long)(durationMs * (0.2 + 0.4 * rng.NextDouble()));
            long k1;
            long? k2 = null;
            (long, int)[] phases;
            if (cls == TruthClass.Plain)
            {
                switch (m / 4 % 4)
                {
                    case 0:
                        k1 = s0 - rng.Next(300, 2400);
                        phases = [(long.MinValue, 2)];
                        break;
                    case 1: // half-time during the run
                        k1 = s0 - rng.Next(2500, 2700);
                        phases = [(long.MinValue, 2), (t1, 3)];
                        break;
                    case 2: // second half kicks off during the run
                        k1 = t1 / 1000 - 2700 - rng.Next(60, 600);
                        k2 = t1 / 1000;
                        phases = [(long.MinValue, 3), (t1, 4)];
                        break;
                    default: // kicks off during the run
                        k1 = t1 / 1000;
                        phases = [(long.MinValue, 1), (t1, 2)];
                        break;
                }
            }
            else if (cls == TruthClass.Regression)
            {
                k1 = s0 - 6000 - rng.Next(0, 600);
                k2 = k1 + 3600;
                var back = runStart + (long)(durationMs * (0.15 + 0.15 * rng.NextDouble()));
                phases = [(long.MinValue, 4), (back, 2)];
            }
            else if (rng.Next(2) == 0)
            {
                k1 = s0 - rng.Next(300, 2400);
                phases = [(long.MinValue, 2)];
            }
            else
            {
                k1 = s0 - 6000 - rng.Next(0, 600);
                k2 = k1 + 3600;
                phases = [(long.MinValue, 4)];
            }

            var started = phases[0].Item2 != 1;
            var withVar = cls is TruthClass.VarPush or TruthClass.VarPoll;
            (long[] Goals, long[] Cancels) Side()
            {
                var goals = new List<long>();
                var cancels = new List<long>();
                var n = rng.Next(0, 3);
                for (var g = 0; g < n; g++)
                {
                    var at = runStart + 1_000 + (long)(rng.NextDouble() * (durationMs - 8_000));
                    if (!started && at < t1) at = t1 + 500;
                    goals.Add(at);
                    if (withVar && rng.Next(2) == 0) cancels.Add(at + rng.Next(3_000, 6_000));
                }

                return ([.. goals], [.. cancels]);
            }

            var (hg, hc) = Side();
            var (ag, ac) = Side();
            truths.Add(new MatchTruth
            {
                Id = $"{prefix}-{m}",
                Index = m,
                Class = cls,
                MatchTime = k1 - rng.Next(0, 300),
                Kickoff1 = k1,
                Kickoff2 = k2,
                Phases = phases,
                BaseHome = started ? rng.Next(0, 3) : 0,
                BaseAway = started ? rng.Next(0, 2) : 0,
                HomeGoals = hg,
                HomeCancels = hc,
                AwayGoals = ag,
                AwayCancels = ac,
                RunStart = runStart,
                CompetitionChangeAt = m % 3 == 0 ? runStart + durationMs / 2 : null,
                QuietAt = quiet && rng.Next(2) == 0 ? runStart + (long)(durationMs * (0.2 + 0.8 * rng.NextDouble())) : null,
            });
        }

        return truths;
    }
}

/// <summary>One update a grain acknowledged (the call returned).</summary>
/// <param name="Via">The grain factory the call went through (which cluster answered, where a run has two).</param>
internal sealed record Ack(MatchTruth Match, MatchUpdate Update, long Seq, long AckedAtMs, bool AnyApplied, IReadOnlySet<string> AppliedFields,
    IGrainFactory? Via = null, string? StatusOutcome = null);

/// <summary>
/// The five job kinds writing concurrently through <see cref="IMatchGrain"/> for a bounded time,
/// in real time: match sync / detail_live / data_update polls (<c>api</c>), MQTT deltas
/// (<c>mqtt</c>), the minute clock (<c>RefreshMinute</c>) and watchdog re-polls (<c>watchdog</c>),
/// with duplicates, late and out-of-order deliveries, exact source ties, one-off status glitches
/// (unconfirmed regressions) and kick-off overwrite attempts. A call that throws is retried with the
/// same update until it is acknowledged, as the pollers do.
/// </summary>
internal sealed class FaultWriters(IReadOnlyList<MatchTruth> truths, Func<string, IGrainFactory> route, int seed)
{
    private readonly ConcurrentQueue<Ack> _acks = new();
    private readonly ConcurrentBag<Task> _late = [];
    private readonly ConcurrentDictionary<string, bool> _kickoffAcked = new();
    private long _seq;
    private long _giveUpAt = long.MaxValue;
    private int _unacknowledged;
    private long _callFailures;
    private long _minuteRefreshes;

    /// <summary>Period of detail_live's and the push feed's full rounds over the matches.</summary>
    public TimeSpan Round { get; init; } = TimeSpan.FromSeconds(3);

    public IReadOnlyCollection<Ack> Acks => _acks;
    public int Unacknowledged => _unacknowledged;
    public long CallFailures => Interlocked.Read(ref _callFailures);
    public long MinuteRefreshes => Interlocked.Read(ref _minuteRefreshes);

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>Runs every writer until <paramref name="until"/>, then waits for late deliveries and retries (bounded).</summary>
    public async Task RunAsync(DateTimeOffset until, TimeSpan retryBound)
    {
        var end = until.ToUnixTimeMilliseconds();
        // A call that keeps failing is retried up to the bound after the run, not forever.
        Interlocked.Exchange(ref _giveUpAt, end + (long)retryBound.TotalMilliseconds);
        await Task.WhenAll(
            MatchSyncAsync(end, new Random(seed + 1)),
            DetailLiveAsync(end, new Random(seed + 2)),
            DataUpdateAsync(end, new Random(seed + 3)),
            PushAsync(end, new Random(seed + 4)),
            MinuteClockAsync(end),
            WatchdogAsync(end, new Random(seed + 5)));
        await Task.WhenAll(_late.ToArray());
    }

    /// <summary>Delivers <paramref name="updates"/> of one match in one call, retried until acknowledged.</summary>
    public async Task DeliverAsync(MatchTruth m, params MatchUpdate[] updates)
    {
        while (true)
        {
            try
            {
                var via = route(m.Id);
                var grain = via.GetGrain<IMatchGrain>(m.Id);
                IReadOnlyList<ApplyResult> results = updates.Length == 1 ? [await grain.Apply(updates[0])] : await grain.ApplyMany(updates);
                var acked = Now();
                for (var i = 0; i < updates.Length; i++)
                {
                    var applied = results[i].Fields.Where(f => f.Outcome == FieldOutcome.Applied).Select(f => f.Field).ToHashSet(StringComparer.Ordinal);
                    var status = results[i].Fields.FirstOrDefault(f => f.Field == "status_id");
                    _acks.Enqueue(new Ack(m, updates[i], Interlocked.Increment(ref _seq), acked, results[i].AnyApplied, applied, via,
                        status is null ? null : status.Reason ?? status.Outcome.ToString()));
                    if (updates[i].PhaseKickoffTs is > 0 && updates[i].StatusId is int st) _kickoffAcked[$"{m.Id}/{st}"] = true;
                }

                return;
            }
            catch (Exception) when (Now() < Interlocked.Read(ref _giveUpAt))
            {
                Interlocked.Increment(ref _callFailures);
                await Task.Delay(250);
            }
            catch (Exception)
            {
                Interlocked.Add(ref _unacknowledged, updates.Length);
                return;
            }
        }
    }

    private void Later(int delayMs, Func<Task> deliver) => _late.Add(Task.Run(async () =>
    {
        await Task.Delay(delayMs);
        await deliver();
    }));

    private static IEnumerable<MatchTruth> Shuffled(IReadOnlyList<MatchTruth> truths, Random rng) => truths.OrderBy(_ => rng.Next()).ToList();

    /// <summary>recent/list: every match in turn; some delivered late, some as an out-of-order pair in one ApplyMany.</summary>
    private async Task MatchSyncAsync(long end, Random rng)
    {
        while (Now() < end)
        {
            foreach (var m in Shuffled(truths, rng))
            {
                if (Now() >= end) return;
                var t = Now();
                if (!m.Reported(t)) continue;
                var roll = rng.Next(10);
                if (roll == 0)
                {
                    var update = m.Observe(UpdateSource.Api, t);
                    Later(rng.Next(1_000, 4_000), () => DeliverAsync(m, update));
                }
                else if (roll == 1)
                {
                    await DeliverAsync(m, m.Observe(UpdateSource.Api, t), m.Observe(UpdateSource.Api, t - rng.Next(500, 3_000)));
                }
                else
                {
                    await DeliverAsync(m, m.Observe(UpdateSource.Api, t));
                }

                await Task.Delay(25);
            }
        }
    }

    /// <summary>detail_live: the current snapshot of every live match every round (the pollers that restore what a crash lost).</summary>
    private async Task DetailLiveAsync(long end, Random rng)
    {
        while (Now() < end)
        {
            var round = Now();
            var live = Shuffled(truths, rng).Where(m => m.StatusAt(round) is 2 or 3 or 4 && m.Reported(round)).ToList();
            await NextRoundAsync(round, end, Parallel.ForEachAsync(live, new ParallelOptions { MaxDegreeOfParallelism = 8 },
                async (m, _) => await DeliverAsync(m, m.Observe(UpdateSource.Api, Now()))));
        }
    }

    /// <summary>data/update: re-fetches named matches; each delivered twice, some observed seconds before they are delivered.</summary>
    private async Task DataUpdateAsync(long end, Random rng)
    {
        while (Now() < end)
        {
            var m = truths[rng.Next(truths.Count)];
            if (!m.Reported(Now()))
            {
                await Task.Delay(5);
                continue;
            }

            var update = m.Observe(UpdateSource.Api, Now() - (rng.Next(4) == 0 ? rng.Next(1_000, 5_000) : 0));
            await DeliverAsync(m, update);
            await DeliverAsync(m, update);
            await Task.Delay(40);
        }
    }

    /// <summary>MQTT: every pushed match every round; some redelivered, some with an api poll observed at the exact same millisecond.</summary>
    private async Task PushAsync(long end, Random rng)
    {
        var pushed = truths.Where(m => m.HasPush).ToList();
        while (Now() < end)
        {
            var round = Now();
            var order = Shuffled(pushed, rng).Where(m => m.Reported(round)).ToList();
            await NextRoundAsync(round, end, Parallel.ForEachAsync(order, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (m, _) =>
            {
                var t = Now();
                var delta = m.Observe(UpdateSource.Mqtt, t);
                int roll;
                lock (rng) roll = rng.Next(10);
                if (roll == 0)
                {
                    // An exact tie: the source priority decides (status: api; scores: mqtt).
                    var poll = m.Observe(UpdateSource.Api, t);
                    await Task.WhenAll(DeliverAsync(m, delta), DeliverAsync(m, poll));
                }
                else
                {
                    await DeliverAsync(m, delta);
                    if (roll == 1) await DeliverAsync(m, delta); // redelivery (QoS 1)
                }
            }));
        }
    }

    /// <summary>
    /// Waits for the next round: when it is due, the next one starts even if calls of this one still
    /// hang (on a silo that went away); those finish, or give up, by themselves before the run ends.
    /// </summary>
    private async Task NextRoundAsync(long roundStart, long end, Task round)
    {
        _late.Add(round);
        var left = roundStart + (long)Round.TotalMilliseconds - Now();
        await Task.WhenAny(round, Task.Delay((int)Math.Max(0, left)));
        left = roundStart + (long)Round.TotalMilliseconds - Now();
        if (left > 0) await Task.Delay((int)Math.Min(left, Math.Max(0, end - Now())));
    }

    private async Task MinuteClockAsync(long end)
    {
        while (Now() < end)
        {
            foreach (var m in truths)
            {
                if (Now() >= end) return;
                try
                {
                    await route(m.Id).GetGrain<IMatchGrain>(m.Id).RefreshMinute();
                    Interlocked.Increment(ref _minuteRefreshes);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref _callFailures); // the clock's next round covers it
                }

                await Task.Delay(20);
            }
        }
    }

    /// <summary>
    /// Watchdog re-polls (some observed earlier than delivered); in the middle of the run a one-off
    /// lower status (never confirmed) and an attempt to move a set kick-off, per match at most once.
    /// </summary>
    private async Task WatchdogAsync(long end, Random rng)
    {
        var start = Now();
        var glitched = new HashSet<string>();
        var wobbled = new HashSet<string>();
        while (Now() < end)
        {
            var m = truths[rng.Next(truths.Count)];
            var t = Now();
            if (!m.Reported(t))
            {
                await Task.Delay(5);
                continue;
            }

            var middle = t - start > (end - start) * 3 / 10 && end - t > 6_000;
            var status = m.StatusAt(t);
            if (middle && m.GlitchAllowed && glitched.Add(m.Id) && rng.Next(3) == 0)
            {
                await DeliverAsync(m, new MatchUpdate { Source = rng.Next(2) == 0 ? UpdateSource.Watchdog : UpdateSource.Api, ObservedAtMs = t, StatusId = 1 });
            }
            else if (middle && m.KickoffFor(status) is long k && _kickoffAcked.ContainsKey($"{m.Id}/{status}") && wobbled.Add(m.Id))
            {
                await DeliverAsync(m, new MatchUpdate { Source = UpdateSource.Api, ObservedAtMs = t, StatusId = status, PhaseKickoffTs = k + 120 });
            }
            else
            {
                var update = m.Observe(UpdateSource.Watchdog, t - rng.Next(0, 2_000));
                await DeliverAsync(m, update);
            }

            await Task.Delay(60);
        }
    }
}
