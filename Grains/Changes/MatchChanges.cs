using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Orleans.GoalGpt.Abstractions;
using Orleans.Runtime;

namespace Orleans.GoalGpt.Grains.Changes;

/// <summary>
/// This silo's outlet for the changes its match grains publish. <see cref="Publish"/> never waits: it puts the
/// change in a bounded queue (a full queue drops it and counts it; the write path is never held back), and one
/// loop sends what is queued, in batches, to every silo's change hub: this silo's in process, the others'
/// through their grain observer references, one-way (Orleans messaging; no reply is awaited).
/// </summary>
public sealed partial class MatchChanges(IGrainFactory grains, IClusterMembershipService membership, ILocalSiloDetails silo, ILogger<MatchChanges> logger)
    : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    /// <summary>Changes waiting to be sent; beyond it a change is dropped (counted) instead of blocking a grain.</summary>
    public const int QueueCapacity = 65_536;
    private const int MaxBatch = 512;
    private static readonly TimeSpan RegisterInterval = TimeSpan.FromSeconds(5);

    private readonly Channel<MatchChange> _queue = Channel.CreateBounded<MatchChange>(
        new BoundedChannelOptions(QueueCapacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private IMatchChangeHub? _local;
    private IMatchChangeHub? _localReference;
    private volatile HubRegistration[] _remote = [];
    private Task? _sending;
    private Task? _registering;
    private long _dropped;
    private long _batches;

    /// <summary>Changes dropped because the queue was full (exported as a metric by the silo).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>The other silos' hubs this silo sends to now.</summary>
    public int RemoteHubs => _remote.Length;

    /// <summary>Called by the host that serves the stream on this silo (none in a silo without HTTP).</summary>
    public void AttachLocalHub(IMatchChangeHub hub) => _local = hub;

    /// <summary>Queues <paramref name="change"/> for every hub; never waits.</summary>
    public void Publish(MatchChange change)
    {
        if (!_queue.Writer.TryWrite(change)) Interlocked.Increment(ref _dropped);
    }

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe<MatchChanges>(ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private Task StartAsync(CancellationToken ct)
    {
        _sending = Task.Run(SendLoopAsync);
        _registering = Task.Run(RegisterLoopAsync);
        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken ct)
    {
        await _stopping.CancelAsync();
        _queue.Writer.TryComplete();
        try
        {
            if (_localReference is not null) await grains.GetGrain<IMatchChangeHubRegistry>(FeedJobs.Key).Unregister(SiloName).WaitAsync(ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogRegistryFailed(ex);
        }

        foreach (var t in new[] { _sending, _registering })
        {
            if (t is null) continue;
            try
            {
                await t.WaitAsync(ct);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private string SiloName => silo.SiloAddress.ToParsableString();

    private async Task RegisterLoopAsync()
    {
        var registry = grains.GetGrain<IMatchChangeHubRegistry>(FeedJobs.Key);
        var failing = false;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                if (_local is not null && _localReference is null) _localReference = grains.CreateObjectReference<IMatchChangeHub>(_local);
                // A silo without a hub of its own (no HTTP host) still learns where to send.
                var all = await registry.Register(new HubRegistration(SiloName, _localReference));
                var active = membership.CurrentSnapshot.Members
                    .Where(m => m.Value.Status == SiloStatus.Active)
                    .Select(m => m.Key.ToParsableString())
                    .ToHashSet(StringComparer.Ordinal);
                _remote = all.Where(h => h.Hub is not null && h.Silo != SiloName && active.Contains(h.Silo)).ToArray();
                if (failing) LogRegistryRecovered();
                failing = false;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                if (!failing) LogRegistryFailed(ex);
                failing = true;
            }

            try
            {
                await Task.Delay(RegisterInterval, _stopping.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task SendLoopAsync()
    {
        var batch = new List<MatchChange>(MaxBatch);
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < MaxBatch && reader.TryRead(out var c)) batch.Add(c);
            var sent = batch.ToArray();
            batch.Clear();
            var number = ++_batches;
            if (_local is { } local)
            {
                try
                {
                    await local.OnChanges(SiloName, number, sent);
                }
                catch (Exception ex)
                {
                    LogSendFailed(ex, "local");
                }
            }

            foreach (var remote in _remote)
            {
                try
                {
                    // One-way: returns once the message is queued for sending.
                    _ = remote.Hub!.OnChanges(SiloName, number, sent);
                }
                catch (Exception ex)
                {
                    LogSendFailed(ex, remote.Silo);
                }
            }
        }
    }

    public void Dispose() => _stopping.Dispose();

    [LoggerMessage(EventId = 7201, Level = LogLevel.Warning, Message = "Change hubs: the hub registry cannot be reached; sending to the hubs known before")]
    private partial void LogRegistryFailed(Exception ex);

    [LoggerMessage(EventId = 7202, Level = LogLevel.Information, Message = "Change hubs: the hub registry answers again")]
    private partial void LogRegistryRecovered();

    [LoggerMessage(EventId = 7203, Level = LogLevel.Warning, Message = "Change hubs: sending a batch of changes to {Silo} failed")]
    private partial void LogSendFailed(Exception ex, string silo);
}
