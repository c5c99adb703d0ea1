using System.Text;
using Orleans.GoalGpt.Tests.Infrastructure;

namespace Orleans.GoalGpt.Tests.Api;

/// <summary>One frame of a Server-Sent Events stream: its id, event name and data, or a comment.</summary>
public sealed record SseFrame(string? Id, string? Event, string? Data, string? Comment);

/// <summary>A Server-Sent Events client reading <c>GET /v1/stream</c> frame by frame.</summary>
public sealed class SseClient : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private SseClient(HttpResponseMessage response, StreamReader reader)
    {
        _response = response;
        _reader = reader;
    }

    public static async Task<SseClient> ConnectAsync(SiloProcess silo, string query = "", string? lastEventId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{silo.HttpPort}/v1/stream{query}");
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync(), Encoding.UTF8);
        var client = new SseClient(response, reader);
        var first = await client.NextAsync();
        if (first.Comment != "connected") throw new InvalidOperationException($"the stream did not start with ': connected' but {first}");
        return client;
    }

    /// <summary>The next frame (a retry-only frame is skipped); a read that never ends is cut after a minute.</summary>
    public async Task<SseFrame> NextAsync()
    {
        using var cut = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        string? id = null, name = null, comment = null;
        StringBuilder? data = null;
        while (true)
        {
            var line = await _reader.ReadLineAsync(cut.Token) ?? throw new EndOfStreamException("the stream ended");
            if (line.Length == 0)
            {
                if (id is null && name is null && data is null && comment is null) continue;
                return new SseFrame(id, name, data?.ToString(), comment);
            }

            if (line.StartsWith(':')) comment = line[1..].Trim();
            else if (line.StartsWith("id: ", StringComparison.Ordinal)) id = line[4..];
            else if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line[7..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) (data ??= new StringBuilder()).Append(line[6..]);
        }
    }

    /// <summary>The next <c>match</c> event (pings and other comments skipped).</summary>
    public async Task<SseFrame> NextEventAsync()
    {
        while (true)
        {
            var f = await NextAsync();
            if (f.Comment is null) return f;
        }
    }

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        return ValueTask.CompletedTask;
    }
}
