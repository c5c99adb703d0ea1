using System.Globalization;

namespace Orleans.GoalGpt.Silo.Api;

/// <summary>One event of the stream as sent: its id parts, its match, whether it goes to "every live match" clients, the SSE frame.</summary>
public sealed record StreamEvent(long Ms, long Seq, string MatchId, bool ForLiveClients, byte[] Frame);

/// <summary>What a reconnecting client gets: the events it missed, or <c>resync</c> (read again).</summary>
public readonly record struct Resume(bool Resync, IReadOnlyList<StreamEvent> Missed);

/// <summary>
/// The resume buffer of one silo's hub: events in the order this hub sent them, kept for a retention time and
/// at most a capacity (pure: the caller locks and gives the time). Event ids are <c>&lt;ms&gt;-&lt;seq&gt;</c>: the
/// hub's send time and its own sequence number.
/// <para>
/// A resume with an id this hub sent (same sequence number and time) gets exactly the events after it. An id
/// from another silo's hub (a client that reconnects through a load balancer) is placed by its time: every
/// buffered event from <see cref="CrossSiloSlackMs"/> before it is sent again, so none is missed across the
/// silos' clock and delivery differences; a few may come twice, which is harmless because every event carries
/// the whole match. An id older than what the buffer still covers gets <c>resync</c>.
/// </para>
/// </summary>
public sealed class EventBuffer(int capacity, TimeSpan retention, long startedMs)
{
    public const long CrossSiloSlackMs = 1_000;
    private readonly Queue<StreamEvent> _events = new();
    private readonly List<StreamEvent> _scratch = [];
    private long _lastMs;

    /// <summary>Every event from this time on is still buffered (the hub's start, or the newest event dropped).</summary>
    public long CoveredFromMs { get; private set; } = startedMs;

    public int Count => _events.Count;

    public long NextSeq { get; private set; } = 1;

    public StreamEvent Add(long nowMs, string matchId, bool forLiveClients, Func<long, long, byte[]> frame)
    {
        // Never backwards, so that ids order like the buffer (a wall-clock step back keeps the last time).
        var ms = Math.Max(_lastMs, nowMs);
        _lastMs = ms;
        var seq = NextSeq++;
        var e = new StreamEvent(ms, seq, matchId, forLiveClients, frame(ms, seq));
        _events.Enqueue(e);
        Trim(nowMs);
        return e;
    }

    /// <summary>Drops what is past the retention or over the capacity.</summary>
    public void Trim(long nowMs)
    {
        var oldest = nowMs - (long)retention.TotalMilliseconds;
        while (_events.Count > 0 && (_events.Count > capacity || _events.Peek().Ms < oldest))
        {
            var dropped = _events.Dequeue();
            // Events of the same millisecond as the one dropped may be left: coverage starts after it.
            CoveredFromMs = dropped.Ms + 1;
        }
    }

    /// <summary>Parses a <c>Last-Event-ID</c>; false when it is not <c>&lt;ms&gt;-&lt;seq&gt;</c>.</summary>
    public static bool TryParseId(string? id, out long ms, out long seq)
    {
        ms = seq = 0;
        if (id is null) return false;
        var dash = id.IndexOf('-', StringComparison.Ordinal);
        return dash > 0 && id.Length <= 41
            && long.TryParse(id.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out ms)
            && long.TryParse(id.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out seq);
    }

    /// <summary>The events after (<paramref name="ms"/>, <paramref name="seq"/>) that <paramref name="wanted"/> accepts, or resync.</summary>
    public Resume After(long ms, long seq, Func<StreamEvent, bool> wanted)
    {
        _scratch.Clear();
        var first = _events.Count > 0 ? _events.Peek() : null;
        // This hub's own id: the sequence numbers in the buffer are consecutive (a resume is rare: a linear walk will do).
        if (first is not null && seq >= first.Seq && seq < NextSeq && _events.ElementAt((int)(seq - first.Seq)).Ms == ms)
        {
            foreach (var e in _events.Skip((int)(seq - first.Seq) + 1)) if (wanted(e)) _scratch.Add(e);
            return new Resume(false, [.. _scratch]);
        }

        if (ms - CrossSiloSlackMs < CoveredFromMs) return new Resume(true, []);
        foreach (var e in _events) if (e.Ms >= ms - CrossSiloSlackMs && wanted(e)) _scratch.Add(e);
        return new Resume(false, [.. _scratch]);
    }
}
