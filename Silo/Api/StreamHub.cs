using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Silo.Api;

/// <summary>
/// This silo's end of the change stream: every silo's match grains send their changes here (<see cref="OnChanges"/>,
/// a grain observer), and it fans them out to the SSE clients connected to this silo. Each event is rendered once,
/// numbered, kept in the resume buffer and put in each interested client's bounded queue: a client whose queue is
/// full is dropped (its connection aborted), so that no client holds back the others, this hub or the writers.
/// </summary>
public sealed partial class StreamHub : BackgroundService, IMatchChangeHub
{
    private static readonly byte[] PingFrame = Encoding.UTF8.GetBytes(": ping\n\n");
    private static readonly byte[] ResyncFrame = Encoding.UTF8.GetBytes("event: resync\ndata: {}\n\n");
    private readonly StreamOptions _options;
    private readonly TimeProvider _time;
    private readonly KnownMatches _known;
    private readonly ILogger<StreamHub> _logger;
    private readonly EventBuffer _buffer;
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, byte> _live = new(StringComparer.Ordinal);
    private const int MaxEarlyBatches = 256;
    private readonly Dictionary<string, SourceOrder> _sources = new(StringComparer.Ordinal);
    private StreamClient[] _clients = [];
    private long _dropped;
    private long _resyncs;
    private long _events;

    public StreamHub(IOptions<StreamOptions> options, TimeProvider time, KnownMatches known, ILogger<StreamHub> logger)
    {
        _options = options.Value;
        _time = time;
        _known = known;
        _logger = logger;
        _buffer = new EventBuffer(_options.BufferCapacity, _options.BufferRetention, Now());
    }

    public int Clients => Volatile.Read(ref _clients).Length;

    public int Buffered
    {
        get { lock (_gate) return _buffer.Count; }
    }

    public long Dropped => Interlocked.Read(ref _dropped);
    public long Resyncs => Interlocked.Read(ref _resyncs);
    public long Events => Interlocked.Read(ref _events);

    /// <summary>Matches whose latest event here shows them live (added to the live rows of ts_matches that may lag by a flush).</summary>
    public ICollection<string> LiveIds => _live.Keys;

    public Task OnChanges(string source, long batch, IReadOnlyList<MatchChange> changes)
    {
        // Batches of one source in their order (one-way calls may be handled concurrently): one that comes early
        // waits for the ones before it; a gap (a batch lost) is given up once MaxEarlyBatches wait behind it.
        lock (_gate)
        {
            // A silo that restarts has a new address (its generation), hence a new source.
            var order = _sources.TryGetValue(source, out var known) ? known : _sources[source] = new SourceOrder(batch);
            if (batch < order.Next)
            {
                // Later than a gap that was given up: sent as it is rather than held back.
                Deliver(changes);
                return Task.CompletedTask;
            }

            order.Early[batch] = changes;
            while (order.Early.Count > 0)
            {
                if (!order.Early.Remove(order.Next, out var ready))
                {
                    if (order.Early.Count <= MaxEarlyBatches) break;
                    order.Next = order.Early.Keys.Min();
                    continue;
                }

                order.Next++;
                Deliver(ready);
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>Where one sending silo's batches are: the next expected, and those that came before it.</summary>
    private sealed class SourceOrder(long next)
    {
        public long Next { get; set; } = next;
        public Dictionary<long, IReadOnlyList<MatchChange>> Early { get; } = [];
    }

    private void Deliver(IReadOnlyList<MatchChange> changes)
    {
        // Rendered once: the JSON of an event is the same for every client.
        var rendered = new (MatchChange Change, bool Live, bool ForLive, byte[] Json)[changes.Count];
        for (var i = 0; i < changes.Count; i++)
        {
            var c = changes[i];
            var live = MatchJson.IsLive(c.Match.Status?.Value);
            // "Every live match" clients also see the event that takes a match out of live (the board removes it).
            var forLive = live || c.Changed.Contains("status_id");
            var json = JsonSerializer.SerializeToUtf8Bytes(new StreamEventJson(c.Match.ExternalId, c.Changed, MatchJson.From(c.Match)), ApiJson.Options);
            rendered[i] = (c, live, forLive, json);
            _known.Remember(c.Match.ExternalId);
            if (live) _live[c.Match.ExternalId] = 0;
            else _live.TryRemove(c.Match.ExternalId, out _);
        }

        Interlocked.Add(ref _events, changes.Count);
        var now = Now();
        var clients = _clients;
        foreach (var (c, _, forLive, json) in rendered)
        {
            var e = _buffer.Add(now, c.Match.ExternalId, forLive, (ms, seq) => Frame(ms, seq, json));
            foreach (var client in clients)
            {
                if (client.Wants(e) && !client.Queue.Writer.TryWrite(e.Frame)) Drop(client);
            }
        }
    }

    /// <summary>
    /// Connects a client: what it missed since <paramref name="lastEventId"/> (or resync) and from then on every
    /// event it wants, with nothing lost or doubled in between (both are decided under the hub's lock).
    /// </summary>
    public StreamClient Subscribe(IReadOnlySet<string>? matches, (long Ms, long Seq)? lastEventId, Action abort, out Resume resume)
    {
        var client = new StreamClient(matches, _options.ClientQueueCapacity, abort);
        lock (_gate)
        {
            resume = lastEventId is { } id ? _buffer.After(id.Ms, id.Seq, client.Wants) : new Resume(false, []);
            _clients = [.. _clients, client];
        }

        if (resume.Resync) Interlocked.Increment(ref _resyncs);
        return client;
    }

    public static ReadOnlyMemory<byte> Resync => ResyncFrame;

    public void Unsubscribe(StreamClient client)
    {
        lock (_gate) _clients = _clients.Where(c => c != client).ToArray();
    }

    /// <summary>The heartbeat (and the buffer's trim when no event comes): one timer for every client.</summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.PingInterval, _time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            lock (_gate)
            {
                _buffer.Trim(Now());
                foreach (var client in _clients)
                {
                    if (!client.Queue.Writer.TryWrite(PingFrame)) Drop(client);
                }
            }
        }
    }

    private void Drop(StreamClient client)
    {
        if (!client.TryDrop()) return;
        _clients = _clients.Where(c => c != client).ToArray();
        Interlocked.Increment(ref _dropped);
        LogDropped(_options.ClientQueueCapacity);
    }

    private static byte[] Frame(long ms, long seq, byte[] json)
    {
        var head = Encoding.UTF8.GetBytes($"id: {ms}-{seq}\nevent: match\ndata: ");
        var frame = new byte[head.Length + json.Length + 2];
        head.CopyTo(frame, 0);
        json.CopyTo(frame, head.Length);
        frame[^2] = (byte)'\n';
        frame[^1] = (byte)'\n';
        return frame;
    }

    private long Now() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    [LoggerMessage(EventId = 7211, Level = LogLevel.Warning, Message = "Stream client dropped: {Capacity} events waiting for it (a client that does not read)")]
    private partial void LogDropped(int capacity);
}

/// <summary>One connected stream client: its filter and its bounded queue of frames.</summary>
public sealed class StreamClient(IReadOnlySet<string>? matches, int capacity, Action abort)
{
    private int _dropped;

    public Channel<byte[]> Queue { get; } = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(capacity) { SingleReader = true, SingleWriter = false });

    public bool IsDropped => Volatile.Read(ref _dropped) == 1;

    public bool Wants(StreamEvent e) => matches is null ? e.ForLiveClients : matches.Contains(e.MatchId);

    /// <summary>Ends the client once: its queue completes and its connection is aborted (a blocked write ends too).</summary>
    public bool TryDrop()
    {
        if (Interlocked.Exchange(ref _dropped, 1) == 1) return false;
        Queue.Writer.TryComplete();
        abort();
        return true;
    }
}
