using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using StackExchange.Redis;

namespace Orleans.GoalGpt.Grains.Storage;

/// <summary>
/// One Redis connection with blocking socket calls, for the lease renewer's own thread. StackExchange.Redis
/// reads replies through .NET's socket completions, which on Linux are dispatched through the thread pool:
/// a flooded pool then holds a renewal's reply until leases run out, whatever thread waits for it. A blocking
/// <c>Receive</c> is woken by the kernel on the waiting thread itself. Speaks just what renewals need
/// (<c>AUTH</c>, <c>SELECT</c>, <c>EVAL</c> answering an array of integers); reconnects on the next call after a failure.
/// </summary>
public sealed class BlockingRedisConnection(ConfigurationOptions options, TimeSpan timeout) : IDisposable
{
    private Socket? _socket;
    private Stream? _stream;
    private BufferedStream? _reader;

    /// <summary>Runs <paramref name="script"/> and returns its array of integers; throws <see cref="RedisConnectionException"/> on any failure.</summary>
    public long[] EvalIntegers(string script, IReadOnlyList<string> keys, IReadOnlyList<string> args)
    {
        try
        {
            Connect();
            var command = new List<string>(3 + keys.Count + args.Count) { "EVAL", script, keys.Count.ToString(CultureInfo.InvariantCulture) };
            command.AddRange(keys);
            command.AddRange(args);
            Send(command);
            var reply = Read();
            return reply is object[] items ? items.Select(i => i is long l ? l : 0).ToArray() : throw Protocol("not an array");
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or FormatException or InvalidOperationException)
        {
            Close();
            throw new RedisConnectionException(ConnectionFailureType.SocketFailure, $"lease renewal connection: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Connects on this thread within the timeout: a plain blocking connect to an address whose packets are
    /// dropped (a network cut) waits for the kernel's SYN retries, minutes in which no lease is renewed.
    /// </summary>
    private void ConnectWithin(Socket socket, string host, int port)
    {
        var address = IPAddress.TryParse(host, out var ip) ? ip : Dns.GetHostAddresses(host).First(a => a.AddressFamily == AddressFamily.InterNetwork);
        socket.Blocking = false;
        try
        {
            socket.Connect(address, port);
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
        {
            // Connecting: wait for it below.
        }

        if (!socket.Poll((int)timeout.TotalMicroseconds, SelectMode.SelectWrite))
        {
            throw new IOException($"connect to {host}:{port} timed out after {timeout.TotalMilliseconds:F0} ms");
        }

        if (socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error) is int error && error != 0) throw new SocketException(error);
        socket.Blocking = true;
    }

    private void Connect()
    {
        if (_socket is not null) return;
        var endpoint = options.EndPoints.FirstOrDefault() ?? throw new InvalidOperationException("no Redis endpoint");
        var (host, port) = endpoint switch
        {
            IPEndPoint ip => (ip.Address.ToString(), ip.Port),
            DnsEndPoint dns => (dns.Host, dns.Port),
            _ => throw new InvalidOperationException($"unsupported endpoint {endpoint}"),
        };
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, SendTimeout = (int)timeout.TotalMilliseconds, ReceiveTimeout = (int)timeout.TotalMilliseconds };
        try
        {
            ConnectWithin(socket, host, port);
            Stream stream = new NetworkStream(socket, ownsSocket: false);
            if (options.Ssl)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                ssl.AuthenticateAsClient(options.SslHost ?? host);
                stream = ssl;
            }

            _socket = socket;
            _stream = stream;
            _reader = new BufferedStream(stream, 16 * 1024);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        if (options.Password is { Length: > 0 } password)
        {
            Send(options.User is { Length: > 0 } user ? ["AUTH", user, password] : ["AUTH", password]);
            if (Read() is not "OK") throw Protocol("AUTH refused");
        }

        if (options.DefaultDatabase is int db and not 0)
        {
            Send(["SELECT", db.ToString(CultureInfo.InvariantCulture)]);
            if (Read() is not "OK") throw Protocol("SELECT refused");
        }
    }

    private void Send(IReadOnlyList<string> parts)
    {
        var sb = new StringBuilder();
        sb.Append('*').Append(parts.Count).Append("\r\n");
        foreach (var p in parts) sb.Append('$').Append(Encoding.UTF8.GetByteCount(p)).Append("\r\n").Append(p).Append("\r\n");
        var bytes = Encoding.UTF8.GetBytes(sb.ToString());
        _stream!.Write(bytes);
        _stream.Flush();
    }

    private object? Read()
    {
        var line = ReadLine();
        var rest = line[1..];
        switch (line[0])
        {
            case '+': return rest;
            case '-': throw Protocol(rest);
            case ':': return long.Parse(rest, CultureInfo.InvariantCulture);
            case '$':
                var length = int.Parse(rest, CultureInfo.InvariantCulture);
                if (length < 0) return null;
                var buffer = new byte[length + 2];
                _reader!.ReadExactly(buffer);
                return Encoding.UTF8.GetString(buffer, 0, length);
            case '*':
                var count = int.Parse(rest, CultureInfo.InvariantCulture);
                if (count < 0) return null;
                var items = new object?[count];
                for (var i = 0; i < count; i++) items[i] = Read();
                return items;
            default: throw Protocol($"unexpected reply '{line[0]}'");
        }
    }

    private string ReadLine()
    {
        var sb = new StringBuilder();
        while (true)
        {
            var b = _reader!.ReadByte();
            if (b < 0) throw new IOException("connection closed");
            if (b == '\r')
            {
                if (_reader.ReadByte() != '\n') throw Protocol("bad line end");
                return sb.ToString();
            }

            sb.Append((char)b);
        }
    }

    private static InvalidOperationException Protocol(string message) => new($"Redis: {message}");

    private void Close()
    {
        _reader?.Dispose();
        _stream?.Dispose();
        _socket?.Dispose();
        _reader = null;
        _stream = null;
        _socket = null;
    }

    public void Dispose() => Close();
}
