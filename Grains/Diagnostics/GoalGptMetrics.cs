using System.Diagnostics.Metrics;

namespace Orleans.GoalGpt.Grains.Diagnostics;

/// <summary>The service's own instruments (meter <c>Orleans.GoalGpt</c>).</summary>
public sealed class GoalGptMetrics
{
    public const string MeterName = "Orleans.GoalGpt";

    /// <summary>
    /// Bucket bounds (ms) of every latency histogram: 0.05 ms (a grain apply) to 10 s (a provider
    /// call with retries). The exporter's default (0, 5, 10, 25, … ms) would report the apply and
    /// lock p99 as a bucket edge.
    /// </summary>
    public static readonly IReadOnlyList<double> LatencyBucketsMs =
        [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 750, 1000, 2500, 5000, 10000];

    private static readonly InstrumentAdvice<double> LatencyAdvice = new() { HistogramBucketBoundaries = LatencyBucketsMs };

    public GoalGptMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        UpdatesReceived = meter.CreateCounter<long>("goalgpt.updates.received", description: "Updates received by match grains, by source.");
        FieldsApplied = meter.CreateCounter<long>("goalgpt.fields.applied", description: "Fields applied, by source and field.");
        FieldsRejected = meter.CreateCounter<long>("goalgpt.fields.rejected", description: "Fields rejected, by source, field and reason.");
        VarCorrections = meter.CreateCounter<long>("goalgpt.var_corrections", description: "Displayed scores that went down (VAR corrections).");
        KickoffOverwritesBlocked = meter.CreateCounter<long>("goalgpt.kickoff_overwrite_blocked", description: "Attempts to change a set kick-off time.");
        MinuteCorrected = meter.CreateCounter<long>("goalgpt.minute_corrected", description: "Minutes recomputed from a kick-off (or carried minute) that became known or was corrected, by basis and direction.");
        StatusRegressions = meter.CreateCounter<long>("goalgpt.status_regressions", description: "Backward status moves, by outcome (unconfirmed/confirmed).");
        UnconfirmedScoreDrops = meter.CreateCounter<long>("goalgpt.unconfirmed_score_drop", description: "Lower scores polled soon after a push, held as lagging snapshots, by field.");
        ConfirmedScoreDrops = meter.CreateCounter<long>("goalgpt.score_drop_confirmed", description: "Held lower scores confirmed by two polls 10 s apart and written, by field.");
        ApplyLatency = meter.CreateHistogram<double>("goalgpt.apply.duration", unit: "ms", description: "Time to decide one update in the grain.", tags: null, advice: LatencyAdvice);
        KickoffChanges = meter.CreateCounter<long>("goalgpt.kickoff_changes", description: "Set kick-off times replaced (by an admin), by field.");
        FlushBatchSize = meter.CreateHistogram<long>("goalgpt.writebehind.batch_size", description: "Rows per ts_matches upsert.");
        FlushDuration = meter.CreateHistogram<double>("goalgpt.writebehind.flush.duration", unit: "ms", description: "Duration of one ts_matches upsert.", tags: null, advice: LatencyAdvice);
        WriteLag = meter.CreateHistogram<double>("goalgpt.writebehind.lag", unit: "ms", description: "From an accepted update to its row written.", tags: null, advice: LatencyAdvice);
        FlushFailures = meter.CreateCounter<long>("goalgpt.writebehind.flush.failures", description: "Failed ts_matches upserts (retried).");
        StateWriteFailures = meter.CreateCounter<long>("goalgpt.grainstate.write.failures", description: "Failed grain state writes (retried).");
        LockAcquireLatency = meter.CreateHistogram<double>("goalgpt.lock.acquire.duration", unit: "ms", description: "Time to take a match lock.", tags: null, advice: LatencyAdvice);
        LockClaimPhase = meter.CreateHistogram<double>("goalgpt.lock.claim.phase.duration", unit: "ms",
            description: "Where a granted lease claim's time went, per claim, by phase: queued (until its batch started), redis (the batch's lock script), epoch (the batch's epoch statement).",
            tags: null, advice: LatencyAdvice);
        LockBusy = meter.CreateCounter<long>("goalgpt.lock.busy", description: "Lock acquisitions given up: busy past the bound.");
        LockFailed = meter.CreateCounter<long>("goalgpt.lock.failed", description: "Lock acquisitions failed: dependency unreachable.");
        LeaseRenewalsLost = meter.CreateCounter<long>("goalgpt.lock.renewals_lost", description: "Leases lost: renewal refused or impossible.");
        LeaseRenewalFailures = meter.CreateCounter<long>("goalgpt.lock.renewal_failures", description: "Lease renewal rounds (or batches) that failed, by reason (timeout, redis, disconnected, error, restarted).");
        FencedOutWrites = meter.CreateCounter<long>("goalgpt.fencing.fenced_out", description: "Writes refused by the database for an outdated fencing epoch, by target.");
        meter.CreateObservableGauge("goalgpt.live_matches", () => LiveMatches.Select(l =>
            new Measurement<long>(l.Value.Live, new KeyValuePair<string, object?>("status", l.Key))), description: "Live matches in ts_matches, by status.");
        meter.CreateObservableGauge("goalgpt.live_matches.null_minute", () => LiveMatches.Sum(l => l.Value.NullMinute),
            description: "Live matches in ts_matches with a NULL minute or minute_source (must be 0).");
        meter.CreateObservableGauge("goalgpt.writebehind.backlog", () => Backlog?.Invoke() ?? 0, description: "Matches waiting to be written.");
        ProviderCalls = meter.CreateCounter<long>("goalgpt.provider.calls", description: "Provider HTTP attempts, by endpoint and outcome (ok or the failure).");
        ProviderCallDuration = meter.CreateHistogram<double>("goalgpt.provider.call.duration", unit: "ms", description: "Duration of one provider attempt, by endpoint and outcome.", tags: null, advice: LatencyAdvice);
        ProviderRateLimitWaits = meter.CreateCounter<long>("goalgpt.provider.rate_limit_waits", description: "Provider calls that waited for the cluster-wide rate limit, by endpoint.");
        MqttMessages = meter.CreateCounter<long>("goalgpt.mqtt.messages", description: "MQTT messages, by outcome (applied, duplicate, partial, malformed, ignored).");
        meter.CreateObservableGauge("goalgpt.mqtt.connected", () => MqttConnected ? 1 : 0, description: "1 while this silo's MQTT subscriber is connected.");
        JobDuration = meter.CreateHistogram<double>("goalgpt.job.duration", unit: "ms", description: "Duration of one feed job run, by job_name and outcome.", tags: null, advice: LatencyAdvice);
        meter.CreateObservableGauge("goalgpt.job.last_success", () => _jobLastSuccess.Select(j =>
            new Measurement<double>(j.Value, new KeyValuePair<string, object?>("job_name", j.Key))), unit: "s",
            description: "Unix time of the last successful run of each feed job run on this silo.");
        RowsQuarantined = meter.CreateCounter<long>("goalgpt.writebehind.quarantined", description: "Rows PostgreSQL refused on their own (set aside, not retried), by reason (SQLSTATE).");
        BacklogRefusals = meter.CreateCounter<long>("goalgpt.writebehind.backlog_refusals", description: "Updates refused (retryable) because the write-behind backlog was at its bound.");
        UpdatesRefused = meter.CreateCounter<long>("goalgpt.match.updates_refused", description: "Updates refused (retryable) by a match holding its most unwritten updates without a lease.");
        HandedOver = meter.CreateCounter<long>("goalgpt.match.handed_over", description: "Unwritten updates handed by a deactivating or fenced-out activation to the match's next activation, by outcome.");
        DeliveryFailures = meter.CreateCounter<long>("goalgpt.feed.delivery_failures", description: "Matches whose grain call failed in a feed delivery (the others delivered; the run retried), by origin.");
        LegacyRowsRepaired = meter.CreateCounter<long>("goalgpt.rows.unusable_arrays", description: "Stored raw score arrays left out at a reload (legacy nulls or wrong length).");
        meter.CreateObservableGauge("goalgpt.ready", () => Readiness.Select(r =>
            new Measurement<int>(r.Value ? 1 : 0, new KeyValuePair<string, object?>("check", r.Key))),
            description: "1 while a readiness check (as /health/ready) passes on this silo, 0 while it fails, by check.");
        AuditEvents = meter.CreateCounter<long>("goalgpt.audit.events", description: "Audit events written to match_events (with their rows).");
        AuditStatements = meter.CreateCounter<long>("goalgpt.audit.statements", description: "Write-behind statements that carried audit events (one multi-row insert each).");
        AuditEventsLost = meter.CreateCounter<long>("goalgpt.audit.events_lost", description: "Audit events not written, by reason (quarantined row, bound of an activation without a lease).");
        AuditEventsDeleted = meter.CreateCounter<long>("goalgpt.audit.events_deleted", description: "Audit events deleted by the retention job.");
        AdminCorrections = meter.CreateCounter<long>("goalgpt.admin.corrections", description: "Admin correction requests, by outcome (applied, bad_input, unauthorized, forbidden, not_found, not_written).");
        meter.CreateObservableGauge<long>("goalgpt.matches.stale", () => StaleNow() is { } s ? [new Measurement<long>(s.Count)] : Array.Empty<Measurement<long>>(),
            description: "Live matches flagged stale (stale_since set), as the watchdog last read them.");
        meter.CreateObservableGauge<double>("goalgpt.matches.stale_oldest_age", () => StaleNow() is { } s ? [new Measurement<double>(s.OldestAgeS)] : Array.Empty<Measurement<double>>(), unit: "s",
            description: "How long the longest-stale live match has been stale (0: none), as the watchdog last read it.");
    }

    public Counter<long> AuditEvents { get; }
    public Counter<long> AuditStatements { get; }
    public Counter<long> AuditEventsLost { get; }
    public Counter<long> AuditEventsDeleted { get; }
    public Counter<long> AdminCorrections { get; }

    private (long Count, long? OldestSince, DateTimeOffset ReadAt, TimeProvider Time)? _stale;

    /// <summary>Records the stale live matches the watchdog read: how many, and the oldest <c>stale_since</c> (unix s).</summary>
    public void StaleRead(long count, long? oldestSince, TimeProvider time) => _stale = (count, oldestSince, time.GetUtcNow(), time);

    /// <summary>Reported only while fresh (the watchdog runs on one silo at a time and may move).</summary>
    private (long Count, double OldestAgeS)? StaleNow()
    {
        if (_stale is not { } s) return null;
        var now = s.Time.GetUtcNow();
        if (now - s.ReadAt > TimeSpan.FromMinutes(5)) return null;
        return (s.Count, s.OldestSince is long since ? Math.Max(0, now.ToUnixTimeSeconds() - since) : 0);
    }

    public Counter<long> RowsQuarantined { get; }
    public Counter<long> UpdatesRefused { get; }

    public Counter<long> BacklogRefusals { get; }
    public Counter<long> HandedOver { get; }
    public Counter<long> LegacyRowsRepaired { get; }
    public Counter<long> DeliveryFailures { get; }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, double> _jobLastSuccess = new(StringComparer.Ordinal);

    public Counter<long> UpdatesReceived { get; }
    public Counter<long> FieldsApplied { get; }
    public Counter<long> FieldsRejected { get; }
    public Counter<long> VarCorrections { get; }
    public Counter<long> KickoffOverwritesBlocked { get; }
    public Counter<long> KickoffChanges { get; }
    public Counter<long> StatusRegressions { get; }
    public Counter<long> UnconfirmedScoreDrops { get; }
    public Counter<long> ConfirmedScoreDrops { get; }
    public Counter<long> MinuteCorrected { get; }
    public Histogram<double> ApplyLatency { get; }
    public Histogram<long> FlushBatchSize { get; }
    public Histogram<double> FlushDuration { get; }
    public Histogram<double> WriteLag { get; }
    public Counter<long> FlushFailures { get; }
    public Counter<long> StateWriteFailures { get; }

    public Histogram<double> LockAcquireLatency { get; }
    public Histogram<double> LockClaimPhase { get; }
    public Counter<long> LockBusy { get; }
    public Counter<long> LockFailed { get; }
    public Counter<long> LeaseRenewalsLost { get; }
    public Counter<long> LeaseRenewalFailures { get; }
    public Counter<long> FencedOutWrites { get; }

    public Counter<long> ProviderCalls { get; }
    public Histogram<double> ProviderCallDuration { get; }
    public Counter<long> ProviderRateLimitWaits { get; }
    public Counter<long> MqttMessages { get; }
    public Histogram<double> JobDuration { get; }

    /// <summary>Whether this silo's MQTT subscriber is connected (set by the subscriber).</summary>
    public bool MqttConnected { get; set; }

    /// <summary>Records a successful run of a feed job at <paramref name="unixSeconds"/>.</summary>
    public void JobSucceeded(string jobName, double unixSeconds) => _jobLastSuccess[jobName] = unixSeconds;

    /// <summary>The live set as last read from ts_matches: status → (matches, with NULL minute).</summary>
    public IReadOnlyDictionary<int, (long Live, long NullMinute)> LiveMatches { get; set; } = new Dictionary<int, (long, long)>();

    /// <summary>The readiness checks as last run: check name → passing (set by the silo's health publisher).</summary>
    public IReadOnlyDictionary<string, bool> Readiness { get; set; } = new Dictionary<string, bool>();

    /// <summary>Reports the write-behind backlog (set by the writer).</summary>
    public Func<long>? Backlog { get; set; }
}
