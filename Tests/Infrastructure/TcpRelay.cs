using System.Net;
using System.Net.Sockets;

namespace Orleans.GoalGpt.Tests.Infrastructure;

/// <summary>
/// A TCP relay in front of a real server, to cut one client off it as a dropping firewall does: while
/// cut, nothing is forwarded either way and new connections are accepted but not answered (the bytes
/// wait, as TCP retransmits would); healing forwards again.
/// </summary>
internal sealed class TcpRelay(string host, int port) : RelayBase(host, port)
{
    private volatile TaskCompletionSource _open = Opened();

    public void Cut() => _open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Heal() => _open.TrySetResult();

    // Cut: a new connection waits, and a chunk waits, as unacknowledged segments would.
    protected override Task BeforeForwardAsync(CancellationToken ct) => _open.Task.WaitAsync(ct);

    private static TaskCompletionSource Opened()
    {
        var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        open.SetResult();
        return open;
    }
}

/// <summary>
/// Accepts on a loopback port and relays each connection to the server: the client's bytes as they come, the
/// server's through <see cref="PumpDownAsync"/>. A connection ends both ways when either direction ends.
/// </summary>
internal abstract class RelayBase : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _host;
    private readonly int _port;

    protected RelayBase(string host, int port)
    {
        _host = host;
        _port = port;
        _listener.Start();
        _ = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    protected CancellationTokenSource Stop { get; } = new();

    /// <summary>Awaited before a connection is made to the server and before each chunk the plain pump forwards.</summary>
    protected virtual Task BeforeForwardAsync(CancellationToken ct) => Task.CompletedTask;

    /// <summary>Forwards the server's bytes to the client; returning ends the connection.</summary>
    protected virtual Task PumpDownAsync(NetworkStream server, NetworkStream client) => PumpAsync(server, client);

    private async Task AcceptAsync()
    {
        while (!Stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(Stop.Token);
            }
            catch (Exception)
            {
                return; // stopped
            }

            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                await BeforeForwardAsync(Stop.Token);
                using var server = new TcpClient();
                await server.ConnectAsync(_host, _port, Stop.Token);
                var up = PumpAsync(client.GetStream(), server.GetStream());
                var down = PumpDownAsync(server.GetStream(), client.GetStream());
                await Task.WhenAny(up, down);
            }
            catch (Exception)
            {
                // Either side closed, or the relay stopped: the connection ends.
            }
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to)
    {
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var read = await from.ReadAsync(buffer, Stop.Token);
            if (read == 0) return;
            await BeforeForwardAsync(Stop.Token);
            await to.WriteAsync(buffer.AsMemory(0, read), Stop.Token);
        }
    }

    public ValueTask DisposeAsync()
    {
        Stop.Cancel();
        _listener.Stop();
        Stop.Dispose();
        return ValueTask.CompletedTask;
    }
}
