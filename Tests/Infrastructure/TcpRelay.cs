using System.Net;
using System.Net.Sockets;

namespace Orleans.GoalGpt.Tests.Infrastructure;

/// <summary>
/// A TCP relay in front of a real server, to cut one client off it as a dropping firewall does: while
/// cut, nothing is forwarded either way and new connections are accepted but not answered (the bytes
/// wait, as TCP retransmits would); healing forwards again.
/// </summary>
internal sealed class TcpRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _host;
    private readonly int _port;
    private readonly CancellationTokenSource _stop = new();
    private volatile TaskCompletionSource _open = Opened();

    public TcpRelay(string host, int port)
    {
        _host = host;
        _port = port;
        _listener.Start();
        _ = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public void Cut() => _open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Heal() => _open.TrySetResult();

    private static TaskCompletionSource Opened()
    {
        var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        open.SetResult();
        return open;
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
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
                await _open.Task.WaitAsync(_stop.Token);
                using var server = new TcpClient();
                await server.ConnectAsync(_host, _port, _stop.Token);
                var up = PumpAsync(client.GetStream(), server.GetStream());
                var down = PumpAsync(server.GetStream(), client.GetStream());
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
            var read = await from.ReadAsync(buffer, _stop.Token);
            if (read == 0) return;
            await _open.Task.WaitAsync(_stop.Token); // cut: the chunk waits, as unacknowledged segments would
            await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
        }
    }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
        return ValueTask.CompletedTask;
    }
}
