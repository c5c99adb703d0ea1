using Npgsql;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.GoalGpt.Grains.Storage;

namespace Orleans.GoalGpt.Bench;

/// <summary>A freshly created, migrated benchmark database and its counters.</summary>
public sealed class Database
{
    private Database(string connectionString)
    {
        ConnectionString = connectionString;
        Source = NpgsqlDataSource.Create(connectionString);
        Table = new TsMatchesTable(Source);
    }

    public string ConnectionString { get; }
    public NpgsqlDataSource Source { get; }
    public TsMatchesTable Table { get; }

    public static async Task<Database> RecreateAsync(string serverConnectionString, string name)
    {
        await using (var admin = new NpgsqlConnection(serverConnectionString))
        {
            await admin.OpenAsync();
            foreach (var sql in new[] { $"DROP DATABASE IF EXISTS {name} WITH (FORCE)", $"CREATE DATABASE {name}" })
            {
                await using var cmd = new NpgsqlCommand(sql, admin);
                await cmd.ExecuteNonQueryAsync();
            }
        }

        NpgsqlConnection.ClearAllPools(); // pooled sessions of the dropped database are dead
        var cs = new NpgsqlConnectionStringBuilder(serverConnectionString) { Database = name, MaxPoolSize = 30 }.ConnectionString;
        await new SchemaMigrator(cs, NullLogger<SchemaMigrator>.Instance).MigrateAsync();
        return new Database(cs);
    }

    /// <summary>Transactions committed in this database so far (every autocommit statement is one).</summary>
    public async Task<long> StatementsAsync()
    {
        await Task.Delay(1500); // backends report their counters when idle, at most once a second
        await using var connection = await Source.OpenConnectionAsync();
        await using (var clear = new NpgsqlCommand("SELECT pg_stat_clear_snapshot()", connection)) await clear.ExecuteNonQueryAsync();
        await using var cmd = new NpgsqlCommand("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()", connection);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
