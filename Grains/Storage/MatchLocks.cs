using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.GoalGpt.Grains.Diagnostics;
using StackExchange.Redis;

namespace Orleans.GoalGpt.Grains.Storage;

/// <summary>
/// A held lease on one match: the Redis lock's owner value, the fencing epoch it got, and the monotonic
/// timestamp (<see cref="Stopwatch.GetTimestamp"/>) taken before the <c>SET</c> that won it: the lease
/// is valid for one TTL from then, however long the set-up after it took.
/// </summary>
public sealed record MatchLease(string MatchId, string Owner, long FenceToken, long SetAtTimestamp)
{
    /// <summary>The match's row as the epoch draw left it (null for a lease made up by a test).</summary>
    public TsMatchRow? Row { get; init; }
}

/// <summary>
/// Per-match distributed lock (<c>lock:match:{id}</c>: <c>SET NX PX</c> with a unique owner,
/// renewed and released only by its owner through compare-and-act Lua scripts) plus a fencing
/// epoch issued by PostgreSQL for every acquisition, into the match's row. The lock keeps two activations from writing
/// at once; the epoch makes the database refuse a writer that lost its lock and did not notice.
/// </summary>
public sealed partial class MatchLocks(
    IConnectionMultiplexer redis,
    NpgsqlDataSource database,
    IOptions<LockOptions> options,
    GoalGptMetrics metrics,
    ILogger<MatchLocks> logger) : IDisposable
{
    private const string RenewManyScript = """
        local r = {}
        for i, key in ipairs(KEYS) do
          if redis.call('get', key) == ARGV[i + 1] then r[i] = redis.call('pexpire', key, ARGV[1]) else r[i] = 0 end
        end
        return r
        """;

    private const int RenewBatch = 500;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, LeaseState> _held = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private int _renewerStarted;
    private BlockingRedisConnection? _renewals; // the renewer thread's own
    private const string RenewScript = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
    private const string ReleaseScript = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

    private readonly LockOptions _options = options.Value;
    private readonly SemaphoreSlim _setups = new(options.Value.MaxConcurrentSetups, options.Value.MaxConcurrentSetups);

    /// <summary>
    /// A slot for taking a lease and setting it up (epoch, reload, registration write). Bounded per
    /// silo so that a mass activation (a silo restart with 100,000 matches) queues instead of
    /// exhausting the database pool and failing in a storm of retries.
    /// </summary>
    public async Task<IDisposable> SetupSlotAsync(CancellationToken ct)
    {
        await _setups.WaitAsync(ct).ConfigureAwait(false);
        return new Slot(_setups);
    }

    private sealed class Slot(SemaphoreSlim owner) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) owner.Release();
        }
    }

    public static RedisKey Key(string matchId) => $"lock:match:{matchId}";

    /// <summary>Now on the monotonic clock lease validity is judged by (a wall-clock step must not extend a lease).</summary>
    public static long Now => Stopwatch.GetTimestamp();

    private long TtlTicks => (long)(Ttl.TotalSeconds * Stopwatch.Frequency);

    /// <summary>Longest wait between lease attempts of an activation that has none.</summary>
    public TimeSpan MaxRetryInterval => _options.MaxRetryInterval;

    /// <summary>How long a lease stays valid without a renewal.</summary>
    public TimeSpan Ttl => _options.LeaseTtl;

    private long _lastReachedRedis;
    private long _renewerStartedAt;

    /// <summary>
    /// When the renewer's own connection last got an answer from Redis (monotonic timestamp, <see cref="Now"/>);
    /// until its first answer, when the renewer started: a silo is not judged before its first round had a chance.
    /// </summary>
    public long LastReachedRedis
    {
        get
        {
            StartRenewer();
            var reached = Interlocked.Read(ref _lastReachedRedis);
            return reached != 0 ? reached : Interlocked.Read(ref _renewerStartedAt);
        }
    }

    /// <summary>
    /// True while the renewer's own connection got an answer from Redis within the last three quarters of a
    /// TTL (two renewal rounds): a silo that cannot reach Redis loses every lease it holds within a TTL, so
    /// new activations are better placed elsewhere (<see cref="Ownership.RedisReach"/>).
    /// </summary>
    public bool ReachesRedis => Stopwatch.GetTimestamp() - LastReachedRedis < TtlTicks * 3 / 4;

    /// <summary>
    /// Takes the lock (waiting up to <see cref="LockOptions.AcquireTimeout"/> with jittered retries
    /// while it is busy) and draws the next fencing epoch. Null when busy past the bound or when
    /// Redis or PostgreSQL cannot be reached: the caller keeps accepting in memory and retries.
    /// <para>
    /// Acquisitions are batched silo-wide (<see cref="ClaimLoop"/>): the claims waiting at a moment go
    /// together in one Lua script (<c>SET NX PX</c> per key) and one epoch statement for those that won, so
    /// that a mass activation costs two round trips per batch, not two per match.
    /// </para>
    /// </summary>
    public Task<MatchLease?> TryAcquireAsync(string matchId, CancellationToken ct = default)
    {
        if (!redis.IsConnected)
        {
            // Known to be down: fail at once instead of holding the grain's turn for a timeout.
            metrics.LockFailed.Add(1, new KeyValuePair<string, object?>("dependency", "redis"));
            return Task.FromResult<MatchLease?>(null);
        }

        var started = Now;
        var claim = new Claim(matchId, Guid.NewGuid().ToString("N"), started,
            started + (long)(_options.AcquireTimeout.TotalSeconds * Stopwatch.Frequency));
        if (ct.CanBeCanceled) claim.Cancellation = ct.Register(static c => ((Claim)c!).Done.TrySetCanceled(), claim);
        try
        {
            StartClaims();
        }
        catch (Exception ex) when (ex is OutOfMemoryException or ThreadStartException)
        {
            if (Volatile.Read(ref _claimsStarted) == 0)
            {
                claim.Complete(null);
                LogClaimThreadFailed(ex);
                return claim.Done.Task;
            }
        }

        if (!Enqueue(claim)) claim.Complete(null); // stopping
        return claim.Done.Task;
    }

    private const int ClaimBatchSize = 256;
    private const string AcquireManyScript = """
        local r = {}
        for i, key in ipairs(KEYS) do
          if redis.call('set', key, ARGV[i + 1], 'PX', ARGV[1], 'NX') then r[i] = 1 else r[i] = 0 end
        end
        return r
        """;

    private readonly System.Collections.Concurrent.BlockingCollection<Claim> _claims = [];
    private int _claimsStarted;

    /// <summary>One waiting acquisition: its owner value, when it was asked for, until when a busy lock is retried.</summary>
    private sealed class Claim(string matchId, string owner, long started, long deadline)
    {
        public string MatchId { get; } = matchId;
        public string Owner { get; } = owner;
        public long Started { get; } = started;
        public long Deadline { get; } = deadline;
        public TaskCompletionSource<MatchLease?> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Cancellation { get; set; }

        public void Complete(MatchLease? lease)
        {
            Cancellation.Dispose();
            Done.TrySetResult(lease);
        }
    }

    private bool Enqueue(Claim claim)
    {
        try
        {
            return _claims.TryAdd(claim);
        }
        catch (InvalidOperationException)
        {
            return false; // stopping
        }
    }

    /// <summary>
    /// Starts the claim threads: like the renewer, threads of their own with blocking calls (Redis on a connection
    /// of their own, PostgreSQL on a session of their own: <see cref="ClaimSession"/>), so that a thread pool flooded by a mass activation does not hold up
    /// the acquisitions it is waiting for. <see cref="LockOptions.ClaimThreads"/> of them (two by default): a batch whose epoch
    /// statement waits for a row lock (a flush of the same row) holds up its own claims, not every claim of the silo.
    /// </summary>
    private void StartClaims()
    {
        if (Volatile.Read(ref _claimsStarted) == _options.ClaimThreads) return;
        lock (_claims)
        {
            // Counted per thread started: a start that throws (no thread to be had) is tried again by the next claim,
            // instead of leaving claims queued with nobody to take them.
            while (_claimsStarted < _options.ClaimThreads)
            {
                new Thread(ClaimLoop) { IsBackground = true, Name = $"goalgpt-lease-claims-{_claimsStarted}", Priority = ThreadPriority.AboveNormal }.Start();
                Volatile.Write(ref _claimsStarted, _claimsStarted + 1);
            }
        }
    }

    private void ClaimLoop()
    {
        BlockingRedisConnection? connection = null;
        var session = new ClaimSession(database, _options.AcquireTimeout);
        try
        {
            foreach (var first in _claims.GetConsumingEnumerable())
            {
                if (first.Done.Task.IsCompleted) continue; // cancelled while waiting
                if (_claims.IsAddingCompleted)
                {
                    first.Complete(null); // stopping: no new lock, no new epoch
                    continue;
                }

                var batch = new List<Claim>(16) { first };
                while (batch.Count < ClaimBatchSize && _claims.TryTake(out var claim))
                {
                    if (!claim.Done.Task.IsCompleted) batch.Add(claim);
                }

                connection ??= new BlockingRedisConnection(ConfigurationOptions.Parse(redis.Configuration), Ttl / 3);
                if (!ClaimBatch(batch, connection, session))
                {
                    connection.Dispose(); // reconnects with the next batch
                    connection = null;
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // Stopping.
        }
        finally
        {
            connection?.Dispose();
            session.Dispose();
            try
            {
                while (_claims.TryTake(out var claim)) claim.Complete(null);
            }
            catch (ObjectDisposedException)
            {
                // Stopping.
            }
        }
    }

    /// <summary>One batch: the script, then the epoch statement for the keys won. False when Redis failed.</summary>
    private bool ClaimBatch(List<Claim> batch, BlockingRedisConnection connection, ClaimSession session)
    {
        var won = new List<Claim>(batch.Count);
        var setAt = Now; // before the script is sent: a lease is valid for one TTL from here
        try
        {
            try
            {
                var keys = new string[batch.Count];
                var args = new string[batch.Count + 1];
                args[0] = ((long)_options.LeaseTtl.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
                for (var i = 0; i < batch.Count; i++)
                {
                    keys[i] = Key(batch[i].MatchId)!;
                    args[i + 1] = batch[i].Owner;
                }

                var results = connection.EvalIntegers(AcquireManyScript, keys, args);
                for (var i = 0; i < batch.Count; i++)
                {
                    if (i < results.Length && results[i] == 1) won.Add(batch[i]);
                    else Busy(batch[i]);
                }
            }
            catch (Exception ex) when (ex is not ObjectDisposedException)
            {
                metrics.LockFailed.Add(batch.Count, new KeyValuePair<string, object?>("dependency", "redis"));
                LogUnavailable(ex, batch.Count, batch[0].MatchId, "redis");
                foreach (var claim in batch) claim.Complete(null);
                // The script may have run with its reply lost (a timeout): free what it set, if Redis answers.
                ReleaseManyAsync(batch).Ignore();
                return false;
            }

            if (won.Count == 0) return true;
            try
            {
                var scripted = Stopwatch.GetTimestamp();
                var rows = session.Claim(won.ConvertAll(c => c.MatchId));
                RecordPhases(won, setAt, scripted, Stopwatch.GetTimestamp());
                Grant(won, rows, setAt);
            }
            catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.DeadlockDetected && won.Count > 1)
            {
                // A row locked elsewhere for longer than a claim waits for a busy lock: it must not cost the other
                // claims of its batch their leases. Each on its own; the locked one fails alone.
                foreach (var claim in won)
                {
                    try
                    {
                        Grant([claim], session.Claim([claim.MatchId]), setAt);
                    }
                    catch (Exception one) when (one is NpgsqlException or TimeoutException or InvalidOperationException)
                    {
                        DrawFailed([claim], one);
                    }
                }
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                DrawFailed(won, ex);
            }

            return true;
        }
        catch (Exception ex)
        {
            // A defect, not an outage: no claim of the batch may wait for ever, and no lock it won stays set.
            foreach (var claim in batch) claim.Done.TrySetException(ex);
            ReleaseManyAsync(won.Where(c => c.Done.Task is not { IsCompletedSuccessfully: true, Result: not null }).ToList()).Ignore();
            return true;
        }
    }

    /// <summary>
    /// A claim thread's own PostgreSQL session, kept open with its <c>lock_timeout</c> set once: an epoch statement is
    /// then one round trip (a pooled session per batch needed a transaction for <c>SET LOCAL</c>: two, each a wait for
    /// the CPU while a mass activation holds both cores). Opened again after a failure other than a lock timeout or a
    /// deadlock (the statement failed alone). Two per silo (one per claim thread) stay out of the pool for good.
    /// </summary>
    private sealed class ClaimSession(NpgsqlDataSource database, TimeSpan lockTimeout) : IDisposable
    {
        private NpgsqlConnection? _connection;

        public Dictionary<string, TsMatchRow> Claim(IReadOnlyCollection<string> ids)
        {
            try
            {
                if (_connection is null)
                {
                    _connection = database.OpenConnection();
                    TsMatchesTable.SetLockTimeout(_connection, lockTimeout);
                }

                return TsMatchesTable.ClaimMany(_connection, ids);
            }
            catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.DeadlockDetected)
            {
                throw; // the statement failed alone; the session is fine
            }
            catch
            {
                Dispose(); // broken or unknown: a new session for the next batch
                throw;
            }
        }

        public void Dispose()
        {
            // Back to the pool, which resets the session (its lock_timeout with it); a broken one is dropped there.
            _connection?.Dispose();
            _connection = null;
        }
    }

    private void RecordPhases(List<Claim> claims, long started, long scripted, long drawn)
    {
        var redis = Stopwatch.GetElapsedTime(started, scripted).TotalMilliseconds;
        var epoch = Stopwatch.GetElapsedTime(scripted, drawn).TotalMilliseconds;
        foreach (var claim in claims)
        {
            metrics.LockClaimPhase.Record(Math.Max(0, Stopwatch.GetElapsedTime(claim.Started, started).TotalMilliseconds), new KeyValuePair<string, object?>("phase", "queued"));
            metrics.LockClaimPhase.Record(redis, new KeyValuePair<string, object?>("phase", "redis"));
            metrics.LockClaimPhase.Record(epoch, new KeyValuePair<string, object?>("phase", "epoch"));
        }
    }

    /// <summary>Hands out the leases of a drawn batch; a claim whose caller gave up meanwhile frees its key at once.</summary>
    private void Grant(List<Claim> claims, Dictionary<string, TsMatchRow> rows, long setAt)
    {
        foreach (var claim in claims)
        {
            var row = rows[claim.MatchId];
            var lease = new MatchLease(claim.MatchId, claim.Owner, row.FenceToken!.Value, setAt) { Row = row };
            metrics.LockAcquireLatency.Record(Stopwatch.GetElapsedTime(claim.Started).TotalMilliseconds);
            claim.Cancellation.Dispose();
            if (!claim.Done.TrySetResult(lease)) ReleaseAsync(lease).Ignore();
        }
    }

    /// <summary>No epoch for these claims (PostgreSQL failed or the row stayed locked): no lease, and their keys freed.</summary>
    private void DrawFailed(List<Claim> claims, Exception ex)
    {
        metrics.LockFailed.Add(claims.Count, new KeyValuePair<string, object?>("dependency", "postgres"));
        LogUnavailable(ex, claims.Count, claims[0].MatchId, "postgres");
        ReleaseManyAsync(claims).Ignore();
        foreach (var claim in claims) claim.Complete(null);
    }

    /// <summary>A busy lock: tried again after a jittered wait until the claim's deadline, then null (the caller backs off).</summary>
    private void Busy(Claim claim)
    {
        if (Now >= claim.Deadline)
        {
            metrics.LockBusy.Add(1);
            LogBusy(claim.MatchId);
            claim.Complete(null);
            return;
        }

        _ = RetryLaterAsync(claim);
    }

    private async Task RetryLaterAsync(Claim claim)
    {
        try
        {
            await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(_options.RetryMinMs, _options.RetryMaxMs)), _stopping.Token).ConfigureAwait(false);
            if (!Enqueue(claim)) claim.Complete(null);
        }
        catch (Exception)
        {
            claim.Complete(null); // stopping (or a bad retry setting): no lease, never a claim left waiting
        }
    }

    /// <summary>Frees the locks of claims that got no epoch (PostgreSQL failed): compare-and-delete, concurrently.</summary>
    private async Task ReleaseManyAsync(List<Claim> claims)
    {
        await Task.WhenAll(claims.Select(c => ReleaseAsync(new MatchLease(c.MatchId, c.Owner, 0, 0)))).ConfigureAwait(false);
    }

    /// <summary>How long the lock of <paramref name="matchId"/> still lives (someone else's), or null when none or unknown.</summary>
    public async Task<TimeSpan?> RemainingAsync(string matchId)
    {
        if (!redis.IsConnected) return null;
        try
        {
            var ttl = await redis.GetDatabase().KeyTimeToLiveAsync(Key(matchId)).ConfigureAwait(false);
            return ttl is { } t && t > TimeSpan.Zero ? t : null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException) // a connection torn down mid-read also throws InvalidOperationException
        {
            return null;
        }
    }

    /// <summary>Extends the lease; false when it is no longer ours (or Redis cannot say).</summary>
    public async Task<bool> RenewAsync(MatchLease lease)
    {
        if (!redis.IsConnected) return false;
        try
        {
            var result = (long)await redis.GetDatabase().ScriptEvaluateAsync(RenewScript, [Key(lease.MatchId)],
                [lease.Owner, (long)_options.LeaseTtl.TotalMilliseconds]).ConfigureAwait(false);
            return result == 1;
        }
        catch (Exception ex) when (ex is not OperationCanceledException) // a connection torn down mid-read also throws InvalidOperationException
        {
            return false;
        }
    }

    /// <summary>
    /// Keeps <paramref name="lease"/> renewed by the silo's renewer: every third of the TTL, all held
    /// leases of this silo in one Lua script per <see cref="RenewBatch"/> (a call per grain would be
    /// 20,000 Redis calls/s at 100,000 matches). The returned state says until when it is valid.
    /// </summary>
    public LeaseState Track(MatchLease lease)
    {
        // Without the row the claim brought (the set-up has read it): held for every lease, it was ~0.8 KiB a match.
        var state = new LeaseState(lease with { Row = null }, lease.SetAtTimestamp + TtlTicks);
        _held[lease.MatchId] = state;
        StartRenewer();
        return state;
    }

    /// <summary>Starts the renewer thread (at the silo's start; else with the first lease). Its first round runs at once.</summary>
    public void StartRenewer()
    {
        if (Interlocked.Exchange(ref _renewerStarted, 1) == 0)
        {
            Interlocked.Exchange(ref _renewerStartedAt, Stopwatch.GetTimestamp());
            // A thread of its own, on a connection of its own with blocking socket calls: a flooded thread pool must
            // not delay renewals (StackExchange.Redis' replies arrive through the pool on Linux, awaited or not).
            new Thread(RenewLoop) { IsBackground = true, Name = "goalgpt-lease-renewer", Priority = ThreadPriority.AboveNormal }.Start();
        }
    }

    /// <summary>Stops renewing the lease of <paramref name="matchId"/> (lost, or released next).</summary>
    public void Untrack(string matchId) => _held.TryRemove(matchId, out _);

    private void RenewLoop()
    {
        var interval = (long)((Ttl / 3).TotalSeconds * Stopwatch.Frequency);
        var next = Stopwatch.GetTimestamp();
        try
        {
            while (true)
            {
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
                if (wait > TimeSpan.Zero && _stopping.Token.WaitHandle.WaitOne(wait)) return;
                if (_stopping.IsCancellationRequested) return;
                next = Math.Max(next + interval, Stopwatch.GetTimestamp());
                try
                {
                    RenewRound();
                }
                catch (Exception ex) when (ex is not ObjectDisposedException)
                {
                    // Whatever went wrong in one round, the next one runs: a renewer that died would let every lease lapse for good.
                    _renewals?.Dispose();
                    _renewals = null;
                    metrics.LeaseRenewalFailures.Add(1, new KeyValuePair<string, object?>("reason", "error"));
                    LogRenewalCrashed(ex);
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // Disposed while stopping.
        }
    }

    private void RenewRound()
    {
        var tick = Stopwatch.GetTimestamp();
        var renewed = 0;
        foreach (var batch in _held.Values.Chunk(RenewBatch))
        {
            var started = Now; // before the script is sent: Redis extends from a moment after this
            try
            {
                if (!redis.IsConnected)
                {
                    metrics.LeaseRenewalFailures.Add(1, new KeyValuePair<string, object?>("reason", "disconnected"));
                    break;
                }

                var keys = batch.Select(l => (string)Key(l.Lease.MatchId)!).ToArray();
                var args = new string[batch.Length + 1];
                args[0] = ((long)Ttl.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
                for (var i = 0; i < batch.Length; i++) args[i + 1] = batch[i].Lease.Owner;
                _renewals ??= new BlockingRedisConnection(ConfigurationOptions.Parse(redis.Configuration), Ttl / 3);
                var results = _renewals.EvalIntegers(RenewManyScript, keys, args);
                Interlocked.Exchange(ref _lastReachedRedis, started);
                for (var i = 0; i < batch.Length; i++)
                {
                    if (results[i] == 1) batch[i].Renewed(started + TtlTicks);
                    else batch[i].Lost = true;
                }

                renewed += batch.Length;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // Leases run out by themselves; their grains stop writing when they do.
                metrics.LeaseRenewalFailures.Add(1, new KeyValuePair<string, object?>("reason", ex is TimeoutException ? "timeout" : "redis"));
                LogRenewalFailed(_held.Count - renewed, ex.Message);
                break;
            }
        }

        if (_held.IsEmpty) Ping();

        // A renewal round that takes a third of the TTL leaves leases close to running out: say so before they do.
        var took = Stopwatch.GetElapsedTime(tick);
        if (took > Ttl / 3) LogRenewalSlow(renewed, (long)took.TotalMilliseconds, Ttl);
    }

    /// <summary>With no lease to renew, a round still asks Redis for an answer: <see cref="ReachesRedis"/> stays current.</summary>
    private void Ping()
    {
        var started = Now;
        try
        {
            _renewals ??= new BlockingRedisConnection(ConfigurationOptions.Parse(redis.Configuration), Ttl / 3);
            _renewals.EvalIntegers("return {1}", [], []);
            Interlocked.Exchange(ref _lastReachedRedis, started);
        }
        catch (Exception ex) when (ex is not ObjectDisposedException)
        {
            // Not reached: ReachesRedis turns false once two rounds went unanswered.
            _renewals?.Dispose();
            _renewals = null;
        }
    }

    public void Dispose()
    {
        _claims.CompleteAdding();
        _stopping.Cancel();
        _stopping.Dispose();
        _renewals?.Dispose();
    }

    /// <summary>Releases the lock if it is still ours.</summary>
    public async Task ReleaseAsync(MatchLease lease)
    {
        try
        {
            await redis.GetDatabase().ScriptEvaluateAsync(ReleaseScript, [Key(lease.MatchId)], [lease.Owner]).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException) // a connection torn down mid-read also throws InvalidOperationException
        {
            // It expires by itself.
        }
    }

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Lease renewal round: {Count} leases renewed in {TookMs} ms; leases last {Ttl} (overloaded silo?)")]
    private partial void LogRenewalSlow(int count, long tookMs, TimeSpan ttl);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Error, Message = "Lease renewal round failed unexpectedly; the next round runs as usual")]
    private partial void LogRenewalCrashed(Exception ex);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "Lease renewal round stopped, {Left} leases not renewed this round: {Error}")]
    private partial void LogRenewalFailed(int left, string error);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Error, Message = "No lease claim thread could be started; leases are not taken until one can")]
    private partial void LogClaimThreadFailed(Exception ex);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Match {MatchId}: lock busy past the bound; accepting in memory and retrying")]
    private partial void LogBusy(string matchId);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "{Count} lease claims (match {MatchId} among them): lock unavailable ({Dependency}); accepting in memory and retrying")]
    private partial void LogUnavailable(Exception ex, int count, string matchId, string dependency);
}

/// <summary>A held lease as its renewer sees it: valid until <see cref="ValidUntil"/> (monotonic timestamp), or lost.</summary>
public sealed class LeaseState(MatchLease lease, long validUntil)
{
    private long _validUntil = validUntil;
    private volatile bool _lost;

    public MatchLease Lease { get; } = lease;

    public long ValidUntil => Interlocked.Read(ref _validUntil);

    /// <summary>Still ours and not yet expired by Redis' count (renewals extend it from before they were sent).</summary>
    public bool IsValid => !_lost && MatchLocks.Now < ValidUntil;

    /// <summary>The lock is someone else's now: a renewal found another owner.</summary>
    public bool Lost
    {
        get => _lost;
        set => _lost = value;
    }

    public void Renewed(long validUntil)
    {
        long seen;
        do
        {
            seen = Interlocked.Read(ref _validUntil);
            if (validUntil <= seen) return;
        }
        while (Interlocked.CompareExchange(ref _validUntil, validUntil, seen) != seen);
    }
}

/// <summary>Lock and lease settings (section <c>Locks</c>).</summary>
public sealed class LockOptions
{
    public const string Section = "Locks";

    /// <summary>
    /// Lease lifetime without renewal; renewed every third of it. It bounds how long a crashed silo's matches
    /// stay unwritten (the next owner waits for its leases to run out): 7 s keeps "restored within 10 s" with room for the take-over itself.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(7);

    /// <summary>Longest an activation waits for a busy lock before going on in memory.</summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan AcquireTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Jittered wait between tries while busy, milliseconds.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 10_000)]
    public int RetryMinMs { get; set; } = 20;

    [System.ComponentModel.DataAnnotations.Range(1, 10_000)]
    public int RetryMaxMs { get; set; } = 100;

    /// <summary>
    /// Lease set-ups in flight at once per silo. Their statements are batched (claims, state reads and writes), so more
    /// in flight means larger batches, not more connections. 32: 10,000 matches activated in 1.7–2.7 s with lease p99
    /// 10–16 ms; 64: 1.3–1.8 s but p99 16–37 ms (the claims wait for the cores the activations keep busy); with the
    /// earlier two-round-trip claim, 16 took 3.8–4.1 s and 512 made the claims queue (lease p99 101 ms) without
    /// activating faster (bench/run.sh, 2-core box).
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(1, 1_000)]
    public int MaxConcurrentSetups { get; set; } = 32;

    /// <summary>
    /// Threads that take leases (each with its own Redis connection and PostgreSQL session, outside the pools): a claim
    /// waits while every one is busy with a batch.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(1, 16)]
    public int ClaimThreads { get; set; } = 2;

    /// <summary>Longest wait between two attempts of an activation without a lease (jittered, doubling).</summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan MaxRetryInterval { get; set; } = TimeSpan.FromSeconds(30);
}
