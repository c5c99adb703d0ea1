using System.Diagnostics;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Grains.Diagnostics;

namespace Orleans.GoalGpt.Grains.Ingest;

/// <summary>
/// Takes a cluster-wide rate-limit permit before each attempt: inside the retries (a retry is a
/// request too), outside the attempt timeout (waiting for the slot is not the provider being slow).
/// </summary>
public sealed class ProviderRateLimitHandler(ProviderRateLimiter limiter) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        await limiter.WaitAsync(request.Options.TryGetValue(ProviderCallHandler.EndpointKey, out var e) ? e : "unknown", cancellationToken).ConfigureAwait(false);
        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>
/// The innermost handler of the provider's HTTP client, run once per attempt: stamps the send time
/// (a poll's observation time) and classifies the answer. 429 and 5xx are returned for the resilience pipeline to retry; an HTTP 200
/// carrying an error (<c>err</c>, non-zero <c>code</c>) or malformed JSON becomes a
/// <see cref="ProviderCallException"/>, retried as well. Every attempt is counted by endpoint and outcome.
/// </summary>
public sealed class ProviderCallHandler(
    GoalGptMetrics metrics,
    TimeProvider time,
    IOptions<ProviderOptions> options) : DelegatingHandler
{
    public static readonly HttpRequestOptionsKey<string> EndpointKey = new("goalgpt.provider.endpoint");
    public static readonly HttpRequestOptionsKey<long> SentAtMsKey = new("goalgpt.provider.sent_at_ms");

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var endpoint = request.Options.TryGetValue(EndpointKey, out var e) ? e : "unknown";
        request.Options.Set(SentAtMsKey, time.GetUtcNow().ToUnixTimeMilliseconds());
        var started = time.GetTimestamp();
        HttpResponseMessage response;
        try
        {
            response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (status == 429 || status >= 400)
            {
                Count(endpoint, status == 429 ? "http_429" : status >= 500 ? "http_5xx" : "http_4xx", started);
                return response;
            }

            await response.Content.LoadIntoBufferAsync(options.Value.MaxResponseBytes, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Count(endpoint, "timeout", started);
            throw;
        }
        catch (HttpRequestException)
        {
            Count(endpoint, "network", started);
            throw;
        }

        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        if (ProviderParser.EnvelopeFailure(body) is { } failure)
        {
            Count(endpoint, failure.Reason, started);
            response.Dispose();
            throw new ProviderCallException(endpoint, failure.Reason, failure.Detail);
        }

        Count(endpoint, "ok", started);
        return response;
    }

    private void Count(string endpoint, string outcome, long started)
    {
        var tags = new TagList { { "endpoint", endpoint }, { "outcome", outcome } };
        metrics.ProviderCalls.Add(1, tags);
        metrics.ProviderCallDuration.Record(time.GetElapsedTime(started).TotalMilliseconds, tags);
    }
}
