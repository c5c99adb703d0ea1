using System.Reflection;
using DbUp;
using DbUp.Engine;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Orleans.GoalGpt.Grains.Storage;

/// <summary>
/// Applies the numbered, idempotent scripts of <c>sql/migrations</c> with DbUp (journal table
/// <c>schemaversions</c>), under a PostgreSQL advisory lock so that silos starting together run
/// them once. Rollback runs the matching script of <c>sql/rollback</c> and forgets the migration.
/// </summary>
public sealed partial class SchemaMigrator(string connectionString, ILogger<SchemaMigrator> logger)
{
    private const long AdvisoryLockKey = 0x60A1_6970; // "goalgpt" migrations
    private const string MigrationPrefix = "migrations.";
    private const string RollbackPrefix = "rollback.";
    private static readonly Assembly Scripts = typeof(SchemaMigrator).Assembly;

    /// <summary>The command that migrates, for error messages.</summary>
    public const string MigrateHint = "run `dotnet run --project Silo -- migrate` (or ./run.sh, which migrates first)";

    /// <summary>Applies every pending migration; returns the names applied.</summary>
    public async Task<IReadOnlyList<string>> MigrateAsync(CancellationToken ct = default)
    {
        await using var lockConnection = await LockAsync(ct).ConfigureAwait(false);
        var result = Engine().PerformUpgrade();
        if (!result.Successful)
        {
            LogMigrationFailed(result.Error, result.ErrorScript?.Name ?? "?");
            throw new InvalidOperationException($"Migration {result.ErrorScript?.Name} failed: {result.Error?.Message}", result.Error);
        }

        var applied = result.Scripts.Select(s => s.Name).ToList();
        LogMigrated(applied.Count, string.Join(", ", applied));
        return applied;
    }

    /// <summary>Migrations not yet applied to the database.</summary>
    public IReadOnlyList<string> Pending() => Engine().GetScriptsToExecute().Select(s => s.Name).ToList();

    /// <summary>Runs the rollback script of migration <paramref name="number"/> (e.g. "0002").</summary>
    public async Task RollbackAsync(string number, CancellationToken ct = default)
    {
        var rollback = Scripts.GetManifestResourceNames()
            .SingleOrDefault(n => n.StartsWith($"{RollbackPrefix}{number}_", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"No rollback script for migration {number} in sql/rollback.");
        var migrationName = MigrationPrefix + rollback[RollbackPrefix.Length..];

        await using var connection = await LockAsync(ct).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        await using (var cmd = new NpgsqlCommand(Read(rollback), connection, tx))
        {
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await using (var forget = new NpgsqlCommand("DELETE FROM schemaversions WHERE scriptname = @name", connection, tx))
        {
            forget.Parameters.AddWithValue("name", migrationName);
            await forget.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await tx.CommitAsync(ct).ConfigureAwait(false);
        LogRolledBack(migrationName);
    }

    private UpgradeEngine Engine() => DeployChanges.To
        .PostgresqlDatabase(connectionString)
        .WithScriptsEmbeddedInAssembly(Scripts, name => name.StartsWith(MigrationPrefix, StringComparison.Ordinal))
        .WithTransactionPerScript()
        .WithVariablesDisabled()
        .LogToNowhere()
        .Build();

    private async Task<NpgsqlConnection> LockAsync(CancellationToken ct)
    {
        // A session of its own, never pooled: the advisory lock lives exactly as long as it.
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("SELECT pg_advisory_lock(@key)", connection);
        cmd.Parameters.AddWithValue("key", AdvisoryLockKey);
        cmd.CommandTimeout = 0; // another silo may be migrating: wait for it
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        return connection;
    }

    private static string Read(string resource)
    {
        using var stream = Scripts.GetManifestResourceStream(resource)!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Database migrated: {Count} scripts applied ({Scripts})")]
    private partial void LogMigrated(int count, string scripts);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Error, Message = "Migration {Script} failed")]
    private partial void LogMigrationFailed(Exception? ex, string script);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "Rolled back {Migration}")]
    private partial void LogRolledBack(string migration);
}
