using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Diagnostics;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Orleans.GoalGpt.Grains.Ingest;

/// <summary>An answer of the provider: the parsed batch and when its (successful) request was sent.</summary>
public sealed record ProviderAnswer(ParsedBatch Batch, long SentAtMs);

/// <summary>
/// The provider's HTTP API (<c>shared/docs/provider-contract.md</c>), typed. Resilience (timeouts,
/// jittered retries, circuit breaker) is the client's pipeline; rate limiting and error detection are
/// <see cref="ProviderCallHandler"/>'s. Every failure surfaces as a <see cref="ProviderCallException"/>.
/// </summary>
public sealed class ProviderClient(HttpClient http, IOptions<ProviderOptions> options, GoalGptMetrics metrics)
{
    public const string DetailLiveEndpoint = "detail_live";
    public const string RecentListEndpoint = "recent_list";
    public const string DataUpdateEndpoint = "data_update";
    public const string DiaryEndpoint = "diary";

    /// <summary>Most pages one job run reads.</summary>
    public int MaxPagesPerRun => options.Value.MaxPagesPerRun;

    /// <summary><c>match/detail_live</c>: every live or recently ended match, with <paramref name="source"/> (api or watchdog).</summary>
    public async Task<ProviderAnswer> DetailLiveAsync(UpdateSource source, CancellationToken ct)
    {
        var (root, sentAt) = await GetAsync(DetailLiveEndpoint, "match/detail_live", [], ct).ConfigureAwait(false);
        using (root) return new(ProviderParser.DetailLive(root.RootElement, source, sentAt), sentAt);
    }

    /// <summary><c>match/recent/list</c>: one page of the matches changed since <paramref name="sinceUnix"/>.</summary>
    public async Task<ProviderAnswer> RecentListAsync(long sinceUnix, int page, UpdateSource source, CancellationToken ct)
    {
        var (root, sentAt) = await GetAsync(RecentListEndpoint, "match/recent/list",
            [("time", sinceUnix.ToString(CultureInfo.InvariantCulture)), ("page", page.ToString(CultureInfo.InvariantCulture))], ct).ConfigureAwait(false);
        using (root) return new(ProviderParser.MatchRows(root.RootElement, source, sentAt), sentAt);
    }

    /// <summary><c>match/diary</c>: the schedule of one day (UTC).</summary>
    public async Task<ProviderAnswer> DiaryAsync(DateOnly day, CancellationToken ct)
    {
        var (root, sentAt) = await GetAsync(DiaryEndpoint, "match/diary",
            [("date", day.ToString("yyyyMMdd", CultureInfo.InvariantCulture))], ct).ConfigureAwait(false);
        using (root) return new(ProviderParser.MatchRows(root.RootElement, UpdateSource.Api, sentAt), sentAt);
    }

    /// <summary><c>data/update</c>: the matches changed in the last 120 s.</summary>
    public async Task<(IReadOnlyList<ChangedMatch> Changed, ParsedBatch Batch)> DataUpdateAsync(CancellationToken ct)
    {
        var (root, sentAt) = await GetAsync(DataUpdateEndpoint, "data/update", [], ct).ConfigureAwait(false);
        using (root) return ProviderParser.DataUpdate(root.RootElement, sentAt / 1000);
    }

    private async Task<(JsonDocument Root, long SentAtMs)> GetAsync(string endpoint, string path, (string Name, string Value)[] query, CancellationToken ct)
    {
        var o = options.Value;
        var url = path + "?user=" + Uri.EscapeDataString(o.User) + "&secret=" + Uri.EscapeDataString(o.Secret)
            + string.Concat(query.Select(q => "&" + q.Name + "=" + Uri.EscapeDataString(q.Value)));
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Options.Set(ProviderCallHandler.EndpointKey, endpoint);
        try
        {
            using var response = await http.SendAsync(request, ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                var status = (int)response.StatusCode;
                throw new ProviderCallException(endpoint, status == 429 ? "http_429" : status >= 500 ? "http_5xx" : "http_4xx", $"HTTP {status} after retries");
            }

            var body = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
            var sentAt = request.Options.TryGetValue(ProviderCallHandler.SentAtMsKey, out var s) ? s : 0;
            return (JsonDocument.Parse(body), sentAt);
        }
        catch (ProviderCallException)
        {
            throw;
        }
        catch (BrokenCircuitException ex)
        {
            metrics.ProviderCalls.Add(1, new("endpoint", endpoint), new("outcome", "circuit_open"));
            throw new ProviderCallException(endpoint, "circuit_open", ex.Message, ex);
        }
        catch (TimeoutRejectedException ex)
        {
            throw new ProviderCallException(endpoint, "timeout", ex.Message, ex);
        }
        catch (HttpRequestException ex)
        {
            throw new ProviderCallException(endpoint, "network", ex.Message, ex);
        }
        catch (OperationCanceledException ex) when (!ct.IsCancellationRequested)
        {
            throw new ProviderCallException(endpoint, "timeout", ex.Message, ex);
        }
    }
}
