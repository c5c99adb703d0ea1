using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Orleans.GoalGpt.Grains.Diagnostics;

namespace Orleans.GoalGpt.Tests.Infrastructure;

/// <summary>Sums the service's counters (every silo in this process) while it lives.</summary>
public sealed class MetricTotals : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _totals = new();

    public MetricTotals()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == GoalGptMetrics.MeterName) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            _totals.AddOrUpdate(instrument.Name, value, (_, v) => v + value);
            foreach (var tag in tags) _totals.AddOrUpdate($"{instrument.Name}{{{tag.Key}={tag.Value}}}", value, (_, v) => v + value);
        });
        _listener.Start();
    }

    public long this[string name] => _totals.GetValueOrDefault(name);

    /// <summary>The total of the measurements of <paramref name="name"/> that carry the tag <paramref name="key"/>=<paramref name="value"/>.</summary>
    public long this[string name, string key, string value] => _totals.GetValueOrDefault($"{name}{{{key}={value}}}");

    public void Dispose() => _listener.Dispose();
}
