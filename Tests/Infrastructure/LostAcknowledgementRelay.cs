using System.Buffers.Binary;
using System.Net.Sockets;

namespace Orleans.GoalGpt.Tests.Infrastructure;

/// <summary>
/// A relay in front of the real PostgreSQL that, once armed, loses the acknowledgement of the next statement that
/// completes: it forwards the server's messages one by one and, on the first ReadyForQuery after a CommandComplete,
/// cuts the connection instead of forwarding it. PostgreSQL sends ReadyForQuery after it committed the statement's
/// implicit transaction, so the statement is written and the client sees a broken connection: the interleaving
/// "committed, acknowledgement lost", forced. Clients connect without TLS and GSS encryption
/// (<see cref="ConnectionString"/>), so that every message of the server is framed.
/// </summary>
internal sealed class LostAcknowledgementRelay : RelayBase
{
    private int _armed;
    private int _dropped;
    private volatile string? _tag;

    public LostAcknowledgementRelay(string connectionString) : this(new Npgsql.NpgsqlConnectionStringBuilder(connectionString))
    {
    }

    private LostAcknowledgementRelay(Npgsql.NpgsqlConnectionStringBuilder server) : base(server.Host!, server.Port)
    {
        ConnectionString = new Npgsql.NpgsqlConnectionStringBuilder(server.ConnectionString)
        {
            Host = "127.0.0.1", Port = Port, SslMode = Npgsql.SslMode.Disable, GssEncryptionMode = Npgsql.GssEncryptionMode.Disable,
        }.ConnectionString;
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

    /// <summary>The server's messages (a type byte, a length that counts itself, the body), one at a time.</summary>
    protected override async Task PumpDownAsync(NetworkStream server, NetworkStream client)
    {
        var header = new byte[5];
        var completed = false;
        while (true)
        {
            await server.ReadExactlyAsync(header, Stop.Token);
            var length = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1));
            var message = new byte[1 + length];
            header.CopyTo(message, 0);
            await server.ReadExactlyAsync(message.AsMemory(5, length - 4), Stop.Token);
            if (Volatile.Read(ref _armed) == 1)
            {
                if (header[0] == (byte)'C') completed = _tag is not { } tag || System.Text.Encoding.ASCII.GetString(message, 5, length - 5).StartsWith(tag, StringComparison.Ordinal);
                if (header[0] == (byte)'Z' && completed && Interlocked.Exchange(ref _armed, 0) == 1)
                {
                    Interlocked.Increment(ref _dropped);
                    return; // committed; the client never hears it
                }
            }

            await client.WriteAsync(message, Stop.Token);
        }
    }
}
