using System.Diagnostics.Metrics;
using Orleans.GoalGpt.Grains.Changes;
using Orleans.GoalGpt.Grains.Diagnostics;

namespace Orleans.GoalGpt.Silo.Api;

/// <summary>What the read API and the change stream count (meter of the service, exported at /metrics).</summary>
public sealed class ApiMetrics
{
    public ApiMetrics(IMeterFactory meters, StreamHub hub, MatchChanges changes)
    {
        var meter = meters.Create(GoalGptMetrics.MeterName);
        BadRequests = meter.CreateCounter<long>("goalgpt.api.bad_requests", description: "Requests refused for bad input (400), by endpoint, field and reason");
        UnknownMatches = meter.CreateCounter<long>("goalgpt.api.unknown_matches", description: "Reads of a match never seen (404)");
        meter.CreateObservableCounter("goalgpt.stream.clients_dropped", () => hub.Dropped, description: "Stream clients dropped for falling behind (their queue was full)");
        meter.CreateObservableCounter("goalgpt.stream.resyncs", () => hub.Resyncs, description: "Stream resumes answered with resync (Last-Event-ID older than the buffer)");
        meter.CreateObservableCounter("goalgpt.stream.events", () => hub.Events, description: "Change events received by this silo's hub");
        meter.CreateObservableGauge("goalgpt.stream.clients", () => hub.Clients, description: "Stream clients connected to this silo");
        meter.CreateObservableGauge("goalgpt.stream.buffered_events", () => hub.Buffered, description: "Events in this silo's resume buffer");
        meter.CreateObservableCounter("goalgpt.stream.changes_dropped", () => changes.Dropped, description: "Changes this silo's grains published that found the outgoing queue full");
        meter.CreateObservableGauge("goalgpt.stream.remote_hubs", () => changes.RemoteHubs, description: "Other silos' hubs this silo sends its changes to");
    }

    public Counter<long> BadRequests { get; }
    public Counter<long> UnknownMatches { get; }
}
