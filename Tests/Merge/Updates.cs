using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Tests.Merge;

/// <summary>Builders for updates in tests: a score array like the provider sends.</summary>
internal static class Updates
{
    public const long Now = 1_780_000_000_000; // 2026-05-28, ms
    public const long NowS = Now / 1000;

    public static int[] Side(int regular, int overtime = 0, int penalties = 0, int corners = -1) =>
        [regular, 0, 0, 0, corners, overtime, penalties];

    public static MatchUpdate Score(UpdateSource source, long observedAtMs, int status, int home, int away, long phaseKickoff = 0) => new()
    {
        Source = source,
        ObservedAtMs = observedAtMs,
        StatusId = status,
        HomeScores = Side(home),
        AwayScores = Side(away),
        PhaseKickoffTs = phaseKickoff,
    };

    public static MatchUpdate Status(UpdateSource source, long observedAtMs, int status) => new()
    {
        Source = source,
        ObservedAtMs = observedAtMs,
        StatusId = status,
    };
}
