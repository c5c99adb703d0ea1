using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Orleans.GoalGpt.Chaos;

/// <summary>
/// The silos' path to PostgreSQL: a TCP relay in the hub namespace that can hold every chunk for a set
/// time in each direction (half the added round trip each way). It stands in for <c>tc netem</c>, which
/// this kernel lacks (<c>tc qdisc add ... netem</c>: "Specified qdisc kind is unknown"; no <c>prio</c>
/// either, so no per-port class): the delay is on the wire between the silos and the database, nothing
/// else is slowed, and order within a connection is kept.
/// </summary>
internal sealed class PgDelayProxy(IPEndPoint listen, IPEndPoint target) : IAsyncDisposable
{
    private readonly TcpListener _listener = new(listen);
    private readonly CancellationTokenSource _stop = new();
    private Task? _accept;
    private long _oneWayDelayMs;

    /// <summary>Added to every round trip (split over both directions).</summary>
    public TimeSpan AddedRoundTrip
    {
        get => TimeSpan.FromMilliseconds(Interlocked.Read(ref _oneWayDelayMs) * 2);
        set => Interlocked.Exchange(ref _oneWayDelayMs, (long)value.TotalMilliseconds / 2);
    }

    public void Start()
    {
        _listener.Start(512);
        _accept = Task.Run(AcceptAsync);
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }

            _ = Task.Run(() => RelayAsync(inbound));
        }
    }

    private async Task RelayAsync(TcpClient inbound)
    {
        using var _ = inbound;
        using var outbound = new TcpClient { NoDelay = true };
        inbound.NoDelay = true;
        try
        {
            await outbound.ConnectAsync(target.Address, target.Port, _stop.Token);
            using var both = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            var up = PumpAsync(inbound.GetStream(), outbound.GetStream(), both.Token);
            var down = PumpAsync(outbound.GetStream(), inbound.GetStream(), both.Token);
            await Task.WhenAny(up, down);
            await both.CancelAsync();
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            // A side closed or the server restarted: both sides of this relay go, as a cut connection would.
        }
    }

    /// <summary>Reads chunks as they come and writes each one its delay after it was read.</summary>
    private async Task PumpAsync(NetworkStream from, NetworkStream to, CancellationToken ct)
    {
        var queue = Channel.CreateUnbounded<(long Due, byte[] Data)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var writer = Task.Run(async () =>
        {
            await foreach (var (due, data) in queue.Reader.ReadAllAsync(ct))
            {
                var wait = due - Environment.TickCount64;
                if (wait > 0) await Task.Delay((int)wait, ct);
                await to.WriteAsync(data, ct);
            }
        }, ct);
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var n = await from.ReadAsync(buffer, ct);
                if (n == 0) break;
                queue.Writer.TryWrite((Environment.TickCount64 + Interlocked.Read(ref _oneWayDelayMs), buffer.AsSpan(0, n).ToArray()));
            }
        }
        finally
        {
            queue.Writer.TryComplete();
        }

        await writer;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        if (_accept is not null) await _accept;
        _stop.Dispose();
    }
}
