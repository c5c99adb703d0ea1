using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>The five jobs that write match data concurrently.</summary>
internal enum JobKind { MatchSync, DetailLive, DataUpdate, MinuteClock, Watchdog }

/// <summary>One match's true timeline and every observation the sources make of it.</summary>
internal sealed record MatchScript(string Id, long Kickoff1, long Kickoff2, List<MatchUpdate> Updates);

/// <summary>
/// Realistic, seeded match traffic: kick-offs between 10 and 150 minutes ago, goals, VAR
/// corrections, half-time and full time; observed by api polls (with provider times and
/// metadata), push deltas and watchdog re-polls at distinct times per match.
/// </summary>
internal static class Scenario
{
    public static List<MatchScript> Build(string prefix, int matches, int updatesPerMatch, long nowMs, int seed)
    {
        var rng = new Random(seed);
        var nowS = nowMs / 1000;
        var scripts = new List<MatchScript>();
        for (var m = 0; m < matches; m++)
        {
            var kickoff1 = nowS - rng.Next(10 * 60, 150 * 60);
            var kickoff2 = kickoff1 + 60 * 60;
            var start = kickoff1 * 1000 - 120_000;
            var span = nowMs - 2_000 - start;
            var times = new SortedSet<long>();
            while (times.Count < updatesPerMatch) times.Add(start + (long)(rng.NextDouble() * span));

            var updates = new List<MatchUpdate>();
            int home = 0, away = 0;
            foreach (var t in times)
            {
                var elapsed = (t / 1000) - kickoff1;
                var status = elapsed < 0 ? 1 : elapsed < 45 * 60 ? 2 : elapsed < 60 * 60 ? 3 : elapsed < 110 * 60 ? 4 : 8;
                if (status is 2 or 4)
                {
                    if (rng.Next(6) == 0) home++;
                    if (rng.Next(8) == 0) away++;
                    if (home > 0 && rng.Next(12) == 0) home--; // VAR cancels a goal
                }

                var roll = rng.Next(10);
                var source = roll < 5 ? UpdateSource.Api : roll < 9 ? UpdateSource.Mqtt : UpdateSource.Watchdog;
                var polled = source != UpdateSource.Mqtt;
                updates.Add(new MatchUpdate
                {
                    Source = source,
                    ObservedAtMs = t,
                    StatusId = status,
                    HomeScores = [home, 0, 0, rng.Next(0, 3), rng.Next(-1, 9), 0, 0],
                    AwayScores = [away, 0, 0, 0, -1, 0, 0],
                    PhaseKickoffTs = status == 2 ? kickoff1 : status == 4 ? kickoff2 : rng.Next(2) == 0 ? 0 : kickoff1,
                    ProviderUpdateTime = polled ? t / 1000 : null,
                    MatchTime = polled ? kickoff1 : null,
                    CompetitionId = polled ? "comp_7" : null,
                    HomeTeamId = polled ? $"home_{m}" : null,
                    AwayTeamId = polled ? $"away_{m}" : null,
                });
            }

            // The first sighting of each running phase is a push delta: a poll can be refused as
            // stale as a whole (older provider time), and its kick-off evidence with it.
            foreach (var phase in new[] { 2, 4 })
            {
                var i = updates.FindIndex(u => u.StatusId == phase);
                if (i >= 0)
                {
                    updates[i] = updates[i] with
                    {
                        Source = UpdateSource.Mqtt, ProviderUpdateTime = null, MatchTime = null,
                        CompetitionId = null, HomeTeamId = null, AwayTeamId = null,
                    };
                }
            }

            scripts.Add(new MatchScript($"{prefix}-{m}", kickoff1, kickoff2, updates));
        }

        return scripts;
    }

    /// <summary>
    /// Hands every observation to a job (polls to match sync / detail live / data update, pushes to
    /// detail live, re-polls to the watchdog), adds duplicates and shuffles each job's queue.
    /// </summary>
    public static Dictionary<JobKind, List<(string Id, MatchUpdate Update)>> Distribute(IEnumerable<MatchScript> scripts, int seed)
    {
        var rng = new Random(seed);
        var jobs = Enum.GetValues<JobKind>().ToDictionary(j => j, _ => new List<(string, MatchUpdate)>());
        foreach (var s in scripts)
        {
            foreach (var u in s.Updates)
            {
                var job = u.Source switch
                {
                    UpdateSource.Watchdog => JobKind.Watchdog,
                    UpdateSource.Mqtt => JobKind.DetailLive,
                    _ => (JobKind)rng.Next(0, 3),
                };
                jobs[job].Add((s.Id, u));
                if (rng.Next(4) == 0) jobs[(JobKind)rng.Next(0, 3)].Add((s.Id, u)); // duplicate delivery
            }
        }

        foreach (var list in jobs.Values)
        {
            var shuffled = list.OrderBy(_ => rng.Next()).ToList();
            list.Clear();
            list.AddRange(shuffled);
        }

        return jobs;
    }
}

/// <summary>
/// What the rules must pick from a match's observations, computed independently of the product's
/// merge code: per field the newest observation, source priority on exact ties.
/// </summary>
internal sealed record ExpectedMatch(int Status, string StatusSource, long StatusTs, int Home, string HomeSource, int Away,
    long? Kickoff1, long? Kickoff2, long MatchTime)
{
    private static int StatusPriority(UpdateSource s) => s switch { UpdateSource.Admin => 4, UpdateSource.Api => 3, UpdateSource.Watchdog => 2, _ => 1 };

    private static int ScorePriority(UpdateSource s) => s switch { UpdateSource.Admin => 4, UpdateSource.Mqtt => 3, UpdateSource.Watchdog => 2, _ => 1 };

    private static string Wire(UpdateSource s) => s.ToString().ToLowerInvariant();

    public static ExpectedMatch Of(MatchScript s)
    {
        var status = s.Updates.OrderBy(u => u.ObservedAtMs).ThenBy(u => StatusPriority(u.Source)).Last();
        var score = s.Updates.OrderBy(u => u.ObservedAtMs).ThenBy(u => ScorePriority(u.Source)).Last();
        var sawFirstHalf = s.Updates.Any(u => u.StatusId == 2);
        var sawSecondHalf = s.Updates.Any(u => u.StatusId == 4);
        return new ExpectedMatch(
            status.StatusId!.Value, Wire(status.Source), status.ObservedAtMs,
            score.HomeScores![0], Wire(score.Source), score.AwayScores![0],
            sawFirstHalf ? s.Kickoff1 : null, sawSecondHalf ? s.Kickoff2 : null, s.Kickoff1);
    }
}
