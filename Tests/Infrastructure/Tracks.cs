namespace Orleans.GoalGpt.Tests.Infrastructure;

/// <summary>
/// Which tests <c>test.sh</c> may run beside others (in a second test host, on the same servers) to keep a
/// full run inside CI's time: a test in a track never stops, pauses or blocks a shared server (PostgreSQL,
/// Redis, mosquitto) and asserts nothing about time. Tests without a track run afterwards, alone.
/// </summary>
public static class Tracks
{
    public const string Name = "Track";

    /// <summary>Long tests that mostly wait on a clock (a fake match timeline, a rate limit held for a minute).</summary>
    public const string Waits = "waits";

    /// <summary>Tests on the shared servers that only read and write their own database, keys and topics.</summary>
    public const string Shared = "shared";
}
