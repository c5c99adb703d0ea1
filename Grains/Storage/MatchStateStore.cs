using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using Orleans.Runtime;
using Orleans.Serialization;
using Orleans.Storage;

namespace Orleans.GoalGpt.Grains.Storage;

/// <summary>
/// Grain storage of the match grains (table <c>match_state</c>): the reads and writes waiting at a moment go
/// together, one round trip for a batch (a <c>SELECT … = ANY</c> and one multi-row write), so that activating
/// 10,000 matches is not 20,000 single statements. Optimistic concurrency as Orleans' own providers have it: the
/// ETag is the row's version; a write whose ETag is not the stored version (or that creates a row someone else
/// created first) fails with <see cref="InconsistentStateException"/> and changes nothing. The state is written
/// with the Orleans serializer (version tolerant: <c>[Id]</c> members).
/// </summary>
/// <remarks>
/// Like the lease claims, the batches run on threads of their own with blocking calls: during a mass activation
/// the thread pool is flooded by the very activations that wait for these reads.
/// </remarks>
public sealed partial class MatchStateStore : IGrainStorage, IDisposable
{
    private const int Threads = 2;
    private const int MaxBatch = 512;

    private const string ReadSql = "SELECT grain_id, version, state FROM match_state WHERE grain_id = ANY(@ids)";

    // One statement for a batch of writes: an update where the expected version is stored, an insert where none
    // is expected; a grain missing from what it returns was refused (its ETag is out of date).
    private const string WriteSql = """
        WITH input AS (
            SELECT * FROM unnest(@ids::text[], @expected::integer[], @states::bytea[]) AS u(grain_id, expected, state)),
        updated AS (
            UPDATE match_state m SET version = m.version + 1, state = i.state, modified_at = now()
            FROM input i WHERE m.grain_id = i.grain_id AND i.expected IS NOT NULL AND m.version = i.expected
            RETURNING m.grain_id, m.version),
        inserted AS (
            INSERT INTO match_state (grain_id, version, state)
            SELECT grain_id, 1, state FROM input WHERE expected IS NULL ORDER BY grain_id COLLATE "C"
            ON CONFLICT (grain_id) DO NOTHING
            RETURNING grain_id, version)
        SELECT grain_id, version FROM updated UNION ALL SELECT grain_id, version FROM inserted
        """;

    private readonly NpgsqlDataSource _db;
    private readonly Serializer _serializer;
    private readonly ILogger<MatchStateStore> _logger;
    private readonly BlockingCollection<Op> _ops = new();
    private int _started;

    public MatchStateStore(NpgsqlDataSource db, Serializer serializer, ILogger<MatchStateStore> logger)
    {
        _db = db;
        _serializer = serializer;
        _logger = logger;
    }

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var (version, bytes) = await Enqueue(new Op(Key(stateName, grainId), null, null)).ConfigureAwait(false);
        if (bytes is not { Length: > 0 })
        {
            // No row (ETag null: a first write inserts), or a cleared one (its version: a write updates it).
            grainState.State = Activator.CreateInstance<T>();
            grainState.ETag = bytes is null ? null : version.ToString(CultureInfo.InvariantCulture);
            grainState.RecordExists = false;
            return;
        }

        grainState.State = _serializer.Deserialize<T>(bytes);
        grainState.ETag = version.ToString(CultureInfo.InvariantCulture);
        grainState.RecordExists = true;
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        int? expected = grainState.ETag is null ? null : int.Parse(grainState.ETag, CultureInfo.InvariantCulture);
        var key = Key(stateName, grainId);
        var (version, _) = await Enqueue(new Op(key, _serializer.SerializeToArray(grainState.State), expected)).ConfigureAwait(false);
        if (version == 0)
        {
            throw new InconsistentStateException(
                $"State of {key} was written by another activation (expected version {grainState.ETag ?? "none"})", null, grainState.ETag);
        }

        grainState.ETag = version.ToString(CultureInfo.InvariantCulture);
        grainState.RecordExists = true;
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (grainState.ETag is { } etag)
        {
            var key = Key(stateName, grainId);
            // The row stays, emptied, and its version keeps counting: a deleted row would restart at 1, and an old
            // activation's ETag "1" would then match a state it never read.
            await using var cmd = _db.CreateCommand("UPDATE match_state SET version = version + 1, state = ''::bytea, modified_at = now() WHERE grain_id = @id AND version = @version RETURNING version");
            cmd.Parameters.AddWithValue("id", key);
            cmd.Parameters.AddWithValue("version", int.Parse(etag, CultureInfo.InvariantCulture));
            if (await cmd.ExecuteScalarAsync().ConfigureAwait(false) is not int version)
            {
                throw new InconsistentStateException($"State of {key} was written by another activation (expected version {etag})", null, etag);
            }

            grainState.ETag = version.ToString(CultureInfo.InvariantCulture);
        }

        grainState.State = Activator.CreateInstance<T>();
        grainState.RecordExists = false;
    }

    /// <summary>The row's key: the grain's id and, for a state other than the grain's only one, its name.</summary>
    public static string Key(string stateName, GrainId grainId) => stateName == "match" ? grainId.ToString() : $"{grainId}#{stateName}";

    private Task<(int Version, byte[]? State)> Enqueue(Op op)
    {
        Start();
        try
        {
            _ops.Add(op);
        }
        catch (InvalidOperationException)
        {
            op.Done.TrySetException(new ObjectDisposedException(nameof(MatchStateStore)));
        }

        return op.Done.Task;
    }

    private void Start()
    {
        if (Volatile.Read(ref _started) == Threads) return;
        lock (_ops)
        {
            while (_started < Threads)
            {
                new Thread(Loop) { IsBackground = true, Name = $"goalgpt-match-state-{_started}" }.Start();
                Volatile.Write(ref _started, _started + 1);
            }
        }
    }

    private void Loop()
    {
        try
        {
            foreach (var first in _ops.GetConsumingEnumerable())
            {
                var batch = new List<Op>(16) { first };
                var keys = new HashSet<string>(StringComparer.Ordinal) { first.Key };
                List<Op>? again = null;
                while (batch.Count < MaxBatch && _ops.TryTake(out var op))
                {
                    // One statement decides one version of a row: a second op on the same key goes after it.
                    if (keys.Add(op.Key)) batch.Add(op);
                    else (again ??= []).Add(op);
                }

                try
                {
                    Run(batch);
                }
                catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.DeadlockDetected && batch.Count > 1)
                {
                    // Two silos writing the same states at once (an activation moving): each on its own.
                    foreach (var op in batch) RunAlone(op);
                }
                catch (Exception ex)
                {
                    Fail(batch, ex);
                }

                foreach (var op in again ?? []) RunAlone(op);
            }
        }
        catch (ObjectDisposedException)
        {
            // Stopping.
        }
    }

    private void RunAlone(Op op)
    {
        try
        {
            Run([op]);
        }
        catch (Exception ex)
        {
            Fail([op], ex);
        }
    }

    private void Fail(List<Op> batch, Exception ex)
    {
        foreach (var op in batch) op.Done.TrySetException(ex);
        try
        {
            LogBatchFailed(ex, batch.Count);
        }
        catch (Exception)
        {
            // Stopping (a disposed logger): the callers have their answer.
        }
    }

    private void Run(List<Op> batch)
    {
        var reads = batch.Where(o => o.Write is null).ToList();
        var writes = batch.Where(o => o.Write is not null).ToList();
        using var connection = _db.OpenConnection();
        // No explicit transaction: the batch runs as one implicit transaction that commits with its reply, so a silo
        // paused (or cut off) after the statements holds no row lock waiting for a COMMIT it has not sent yet.
        using var sql = new NpgsqlBatch(connection);
        if (reads.Count > 0)
        {
            var read = new NpgsqlBatchCommand(ReadSql);
            read.Parameters.AddWithValue("ids", reads.Select(o => o.Key).ToArray()); // one op per key in a batch (Loop)
            sql.BatchCommands.Add(read);
        }

        if (writes.Count > 0)
        {
            var write = new NpgsqlBatchCommand(WriteSql);
            write.Parameters.AddWithValue("ids", writes.Select(o => o.Key).ToArray());
            write.Parameters.Add(new NpgsqlParameter("expected", NpgsqlDbType.Array | NpgsqlDbType.Integer) { Value = writes.Select(o => o.Expected).ToArray() });
            write.Parameters.AddWithValue("states", writes.Select(o => o.Write!).ToArray());
            sql.BatchCommands.Add(write);
        }

        var found = new Dictionary<string, (int, byte[]?)>(StringComparer.Ordinal);
        var written = new Dictionary<string, int>(StringComparer.Ordinal);
        using (var reader = sql.ExecuteReader())
        {
            if (reads.Count > 0)
            {
                while (reader.Read()) found[reader.GetString(0)] = (reader.GetInt32(1), reader.GetFieldValue<byte[]>(2));
                reader.NextResult();
            }

            if (writes.Count > 0)
            {
                while (reader.Read()) written[reader.GetString(0)] = reader.GetInt32(1);
            }
        }

        foreach (var op in reads) op.Done.TrySetResult(found.TryGetValue(op.Key, out var f) ? f : (0, null));
        foreach (var op in writes) op.Done.TrySetResult((written.GetValueOrDefault(op.Key), null));
    }

    public void Dispose()
    {
        _ops.CompleteAdding();
        while (_ops.TryTake(out var op)) op.Done.TrySetException(new ObjectDisposedException(nameof(MatchStateStore)));
    }

    /// <summary>A read (no <see cref="Write"/>) or a write of one grain's state; answered with the version and, for a read, the bytes.</summary>
    private sealed record Op(string Key, byte[]? Write, int? Expected)
    {
        public TaskCompletionSource<(int Version, byte[]? State)> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "Match state batch of {Count} reads and writes failed")]
    private partial void LogBatchFailed(Exception ex, int count);
}
