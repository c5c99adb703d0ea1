namespace Orleans.GoalGpt.Grains.Storage;

/// <summary>
/// What the write-behind did with the rows of one match activation: the newest version written to
/// <c>ts_matches</c>, whether the database refused one as fenced out, and whether one was quarantined.
/// The activation keeps every accepted update until a row that contains it is written
/// (<see cref="WrittenVersion"/>): that is when an update is durable.
/// </summary>
public sealed class WriteCursor
{
    private long _written;
    private long _quarantined;
    private long _refusedToken;
    // Made by the first waiter, completed and dropped by the next change: none while nobody waits (memory: one per
    // match activation; and a change, one per row written, allocates nothing then).
    private TaskCompletionSource? _changed;

    /// <summary>The newest version of a row of this activation that is in <c>ts_matches</c>.</summary>
    public long WrittenVersion => Interlocked.Read(ref _written);

    /// <summary>The newest version the database refused on its own (a row PostgreSQL rejects); 0 when none.</summary>
    public long QuarantinedVersion => Interlocked.Read(ref _quarantined);

    /// <summary>
    /// The newest epoch of a row of this activation the database refused (0: none). A writer holding that
    /// epoch or an older one must stop: a newer one was issued. A row of an earlier lease of this same
    /// activation refused after it took a newer one says nothing about the current lease.
    /// </summary>
    public long RefusedToken => Interlocked.Read(ref _refusedToken);

    public void Written(long version)
    {
        Max(ref _written, version);
        Signal();
    }

    public void Quarantined(long version)
    {
        Max(ref _quarantined, version);
        Signal();
    }

    public void Refused(long fenceToken)
    {
        Max(ref _refusedToken, fenceToken);
        Signal();
    }

    /// <summary>Waits until <paramref name="version"/> is written (true), or quarantined or refused for epoch <paramref name="fenceToken"/> (false).</summary>
    public async Task<bool> WaitWrittenAsync(long version, long fenceToken, CancellationToken ct)
    {
        while (true)
        {
            // The signal first, then the versions: a change after this read completes the signal read here.
            var changed = CurrentSignal().Task;
            if (WrittenVersion >= version) return true;
            if (RefusedToken >= fenceToken || QuarantinedVersion >= version) return false;
            await changed.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    private TaskCompletionSource CurrentSignal()
    {
        if (Volatile.Read(ref _changed) is { } current) return current;
        var made = NewSignal();
        return Interlocked.CompareExchange(ref _changed, made, null) ?? made;
    }

    private void Signal() => Interlocked.Exchange(ref _changed, null)?.TrySetResult();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static void Max(ref long field, long value)
    {
        long seen;
        do
        {
            seen = Interlocked.Read(ref field);
            if (value <= seen) return;
        }
        while (Interlocked.CompareExchange(ref field, value, seen) != seen);
    }
}
