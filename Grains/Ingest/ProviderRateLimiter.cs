using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Grains.Diagnostics;
using StackExchange.Redis;

namespace Orleans.GoalGpt.Grains.Ingest;

/// <summary>
/// The one provider rate limit of the whole cluster: every request of every job on every silo takes
/// a permit here first. A generic cell rate algorithm (GCRA) in one Lua script on Redis, timed by
/// Redis' own clock so that silos with skewed clocks still share one schedule; requests are spaced
/// by <c>1 / RequestsPerSecond</c>. Without Redis no permit is given: the call fails (counted) rather
/// than risk the provider's limit.
/// </summary>
public sealed partial class ProviderRateLimiter(
    IConnectionMultiplexer redis,
    IOptions<ProviderOptions> options,
    GoalGptMetrics metrics,
    ILogger<ProviderRateLimiter> logger)
{
    // KEYS[1] the schedule; ARGV[1] spacing in microseconds. Returns 0 (go) or microseconds to wait.
    private const string Script = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
        if tat > now then return tat - now end
        local interval = tonumber(ARGV[1])
        redis.call('SET', KEYS[1], string.format('%.0f', now + interval), 'PX', math.ceil(interval / 1000) + 1000)
        return 0
        """;

    private readonly RedisKey _key = "ratelimit:provider:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(options.Value.User)))[..16];
    private readonly long _intervalMicros = (long)Math.Ceiling(1_000_000 / options.Value.RequestsPerSecond);

    /// <summary>Waits for this cluster's next request slot; throws <see cref="ProviderCallException"/> without Redis.</summary>
    public async Task WaitAsync(string endpoint, CancellationToken ct)
    {
        var waited = false;
        while (true)
        {
            long waitMicros;
            try
            {
                waitMicros = (long)await redis.GetDatabase().ScriptEvaluateAsync(Script, [_key], [_intervalMicros]).WaitAsync(ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                LogLimiterUnavailable(ex.Message);
                throw new ProviderCallException(endpoint, "rate_limiter_unavailable", ex.Message, ex);
            }

            if (waitMicros <= 0)
            {
                if (waited) metrics.ProviderRateLimitWaits.Add(1, new KeyValuePair<string, object?>("endpoint", endpoint));
                return;
            }

            waited = true;
            // Redis' clock runs in real time: so does this wait.
            await Task.Delay(TimeSpan.FromTicks(waitMicros * 10), TimeProvider.System, ct).ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 4101, Level = LogLevel.Warning, Message = "Provider rate limiter unavailable (Redis): {Error}; the call fails and is retried")]
    private partial void LogLimiterUnavailable(string error);
}
