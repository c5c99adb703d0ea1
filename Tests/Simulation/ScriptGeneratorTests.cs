using Orleans.GoalGpt.Simulator;
using Orleans.GoalGpt.Simulator.Model;
using Xunit;

namespace Orleans.GoalGpt.Tests.Simulation;

/// <summary>A simulator seed reproduces its matches, in every process.</summary>
public sealed class ScriptGeneratorTests
{
    private static IReadOnlyList<MatchScript> Generate(int seed, int matches) =>
        ScriptGenerator.Generate(new SimulatorOptions { Seed = seed, Matches = matches, FirstKickoff = TimeSpan.FromMinutes(2), KickoffSpread = TimeSpan.FromMinutes(20) }, 1_796_000_000);

    [Fact]
    public void A_seed_gives_the_same_matches_in_every_process()
    {
        // Pinned: the ids of seed 7 are what they were when this test was written, in another process. With the seed
        // mixed by HashCode.Combine (randomized per process) they changed from run to run.
        Assert.Equal(["tpfon5b30bvgbxj", "bdqjed0azhivefe", "hto1q9me2tav4ui"], Generate(7, 3).Select(m => m.Id).ToArray());
        Assert.Equal(Generate(7, 30).Select(m => m.Id), Generate(7, 30).Select(m => m.Id));
    }

    [Fact]
    public void Seed_7_with_30_matches_holds_a_kick_off_10_minutes_late()
    {
        // IngestTests' kick-off-to-full-time run relies on it (a delayed match, status 9, and its late first half).
        Assert.Contains(Generate(7, 30), m => m.States.Any(s => s.FirstHalfKickoff is long k && k - m.MatchTime >= 600));
    }
}
