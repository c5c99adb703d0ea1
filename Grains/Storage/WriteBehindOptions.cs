using System.ComponentModel.DataAnnotations;

namespace Orleans.GoalGpt.Grains.Storage;

/// <summary>How <c>ts_matches</c> is written behind (section <c>WriteBehind</c>).</summary>
public sealed class WriteBehindOptions
{
    public const string Section = "WriteBehind";

    /// <summary>Longest a dirty match waits before a flush starts (bounded lag).</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:00:10")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Longest a row whose values did not change (only observation times moved: a poll confirmed
    /// what was known) waits before it is written. Value changes are written at the next flush.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan ConfirmationDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Most rows in one upsert statement.</summary>
    [Range(1, 50_000)]
    public int MaxBatchSize { get; set; } = 5_000;

    /// <summary>
    /// Most flushes writing at once, over disjoint matches (a match's rows are written one flush after another). A
    /// second flush starts when the interval comes round or a batch fills while the first is still writing: a burst (every
    /// match's first values with their audit events) is written by two sessions at once instead of queueing behind one
    /// statement at a time.
    /// </summary>
    [Range(1, 8)]
    public int MaxFlushesInFlight { get; set; } = 2;

    /// <summary>Longest wait between retries while PostgreSQL is unreachable.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:05:00")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long shutdown waits for the last flush (e.g. for PostgreSQL to come back). Within the
    /// silo's own stop budget (<c>Shutdown__Timeout</c>, 90 s), after the grains' deactivation.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(80);

    /// <summary>
    /// Most rows not yet written: waiting, or in a flush now writing (a match can have one of each). Checked as an update
    /// comes in, so updates of several matches at once can go a few past it. At the bound an update for a match not
    /// already waiting is refused,
    /// retryably (<c>backlog_full</c>), instead of queueing without limit: the callers wait and send again,
    /// and the lag of what was admitted stays bounded by the bound over the upsert rate.
    /// </summary>
    [Range(100, 10_000_000)]
    public int MaxBacklog { get; set; } = 20_000;
}
