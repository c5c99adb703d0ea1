using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using HdrHistogram;
using Orleans.GoalGpt.Grains.Diagnostics;

namespace Orleans.GoalGpt.Bench;

/// <summary>Percentiles of the service's own histograms (in-process MeterListener) and of our timings, in ms.</summary>
public sealed class Histograms : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, LongConcurrentHistogram> _hist = new();
    private readonly ConcurrentDictionary<string, long> _counters = new();

    /// <summary>The sum of a counter of the service since the last <see cref="Reset"/>.</summary>
    public long Counter(string name) => _counters.GetValueOrDefault(name);

    public Histograms()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == GoalGptMetrics.MeterName && instrument is Histogram<double> or Counter<long>) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(Named(instrument.Name, tags), value));
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => _counters.AddOrUpdate(instrument.Name, value, (_, v) => v + value));
        _listener.Start();
    }

    /// <summary>A histogram with a <c>phase</c> tag is kept per phase: <c>name/phase</c>.</summary>
    private static string Named(string name, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == "phase") return $"{name}/{tag.Value}";
        }

        return name;
    }

    public void Record(string name, double ms) =>
        _hist.GetOrAdd(name, _ => new LongConcurrentHistogram(1, 3_600_000_000, 3)).RecordValue(Math.Max(1, (long)(ms * 1000)));

    public double P(string name, double percentile) =>
        _hist.TryGetValue(name, out var h) && h.TotalCount > 0 ? h.GetValueAtPercentile(percentile) / 1000.0 : double.NaN;

    public long Count(string name) => _hist.TryGetValue(name, out var h) ? h.TotalCount : 0;

    public void Reset()
    {
        _hist.Clear();
        _counters.Clear();
    }

    public void Dispose() => _listener.Dispose();
}
