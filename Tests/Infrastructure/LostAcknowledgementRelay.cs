using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Orleans.GoalGpt.Tests.Infrastructure;

/// <summary>
/// A TCP relay in front of the real PostgreSQL that, once armed, loses the acknowledgement of the next statement
/// that completes: it forwards the server's messages one by one and, on the first ReadyForQuery after a
/// CommandComplete, cuts the connection instead of forwarding it. PostgreSQL sends ReadyForQuery after it committed
/// the statement's implicit transaction, so the statement is written and the client sees a broken connection: the
/// interleaving "committed, acknowledgement lost", forced. Clients must connect without TLS and GSS encryption
/// (<see cref="ConnectionString"/>), so that every message of the server is framed.
/// </summary>
internal sealed class LostAcknowledgementRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _host;
    private readonly int _port;
    private readonly CancellationTokenSource _stop = new();
    private int _armed;
    private int _dropped;
    private volatile string? _tag;

    public LostAcknowledgementRelay(string connectionString)
    {
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
        _host = builder.Host!;
        _port = builder.Port;
        _listener.Start();
        builder.Host = "127.0.0.1";
        builder.Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        builder.SslMode = Npgsql.SslMode.Disable;
        builder.GssEncryptionMode = Npgsql.GssEncryptionMode.Disable;
        ConnectionString = builder.ConnectionString;
        _ = AcceptAsync();
    }

    /// <summary>The connection string through the relay.</summary>
    public string ConnectionString { get; }

    /// <summary>Acknowledgements lost so far.</summary>
    public int Dropped => Volatile.Read(ref _dropped);

    /// <summary>
    /// Loses the acknowledgement of the next statement that completes (on any connection); with <paramref name="tag"/>,
    /// of the next whose command tag starts with it (<c>INSERT</c>, <c>SELECT</c>, ...).
    /// </summary>
    public void Arm(string? tag = null)
    {
        _tag = tag;
        Volatile.Write(ref _armed, 1);
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
                using var server = new TcpClient();
                await server.ConnectAsync(_host, _port, _stop.Token);
                var up = PumpAsync(client.GetStream(), server.GetStream());
                var down = PumpMessagesAsync(server.GetStream(), client.GetStream());
                await Task.WhenAny(up, down);
                server.Close(); // either side gone (or the acknowledgement dropped): the connection ends both ways
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
            await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
        }
    }

    /// <summary>The server's messages (a type byte, a length that counts itself, the body), one at a time.</summary>
    private async Task PumpMessagesAsync(NetworkStream from, NetworkStream to)
    {
        var header = new byte[5];
        var completed = false;
        while (true)
        {
            await from.ReadExactlyAsync(header, _stop.Token);
            var length = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1));
            var message = new byte[1 + length];
            header.CopyTo(message, 0);
            await from.ReadExactlyAsync(message.AsMemory(5, length - 4), _stop.Token);
            if (Volatile.Read(ref _armed) == 1)
            {
                if (header[0] == (byte)'C') completed = _tag is not { } tag || System.Text.Encoding.ASCII.GetString(message, 5, length - 5).StartsWith(tag, StringComparison.Ordinal);
                if (header[0] == (byte)'Z' && completed && Interlocked.Exchange(ref _armed, 0) == 1)
                {
                    Interlocked.Increment(ref _dropped);
                    return; // committed; the client never hears it
                }
            }

            await to.WriteAsync(message, _stop.Token);
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
