namespace Orleans.GoalGpt.Grains.Merge;

/// <summary>Status ids and their order (provider contract, "Status ids").</summary>
public static class MatchPhases
{
    public const int Abnormal = 0;
    public const int NotStarted = 1;
    public const int FirstHalf = 2;
    public const int HalfTime = 3;
    public const int SecondHalf = 4;
    public const int Overtime = 5;
    public const int OvertimeDeprecated = 6;
    public const int Penalties = 7;
    public const int End = 8;
    public const int Delay = 9;

    /// <summary>Side states: entered and left from any state.</summary>
    public static bool IsSideState(int status) => status is 0 or >= 9 and <= 13;

    /// <summary>6 is the deprecated overtime id: treated as 5.</summary>
    public static int Normalize(int status) => status == OvertimeDeprecated ? Overtime : status;

    /// <summary>In play: 2, 3, 4, 5 (6) or 7.</summary>
    public static bool IsLive(int? status) => status is FirstHalf or HalfTime or SecondHalf or Overtime or OvertimeDeprecated or Penalties;
}
