namespace Orleans.GoalGpt.Grains.Ingest;

/// <summary>
/// A provider call that failed: an error body, a non-zero code, 429, 5xx, a timeout, malformed
/// JSON, an open circuit, ... Never "no data". <see cref="Reason"/> is the metric label.
/// </summary>
public sealed class ProviderCallException(string endpoint, string reason, string detail, Exception? inner = null)
    : Exception($"provider {endpoint}: {reason}: {detail}", inner)
{
    public string Endpoint { get; } = endpoint;

    public string Reason { get; } = reason;
}
