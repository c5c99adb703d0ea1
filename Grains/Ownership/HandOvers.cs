namespace Orleans.GoalGpt.Grains.Ownership;

/// <summary>
/// The hand-overs in flight on this silo (unwritten updates of activations that are gone, on their way
/// to the match's next activation). A silo's stop waits for them, after its grains are deactivated and
/// while it can still send messages: a hand-over is acknowledged updates, not a best effort.
/// </summary>
public sealed class HandOvers
{
    private readonly HashSet<Task> _running = [];
    private readonly Lock _gate = new();

    public int Running
    {
        get { lock (_gate) return _running.Count; }
    }

    public void Run(Func<Task> handOver)
    {
        var task = Task.Run(handOver);
        lock (_gate) _running.Add(task);
        task.ContinueWith(t =>
        {
            lock (_gate) _running.Remove(t);
        }, TaskScheduler.Default);
    }

    /// <summary>Waits for every hand-over in flight (bounded by <paramref name="ct"/>).</summary>
    public async Task DrainAsync(CancellationToken ct)
    {
        Task[] running;
        lock (_gate) running = [.. _running];
        try
        {
            await Task.WhenAll(running).WaitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The stop's bound: what is left is logged by each hand-over.
        }
    }
}
