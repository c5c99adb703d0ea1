using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Orleans.GoalGpt.Grains.Storage;

namespace Orleans.GoalGpt.Tests.Infrastructure;

/// <summary>A fresh database on the real PostgreSQL server, dropped at the end.</summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private TestDatabase(string name, string connectionString)
    {
        Name = name;
        ConnectionString = connectionString;
        DataSource = NpgsqlDataSource.Create(connectionString);
        Table = new TsMatchesTable(DataSource);
    }

    public string Name { get; }
    public string ConnectionString { get; }
    public NpgsqlDataSource DataSource { get; }
    public TsMatchesTable Table { get; }

    public SchemaMigrator Migrator() => new(ConnectionString, NullLogger<SchemaMigrator>.Instance);

    /// <param name="createOptions">Appended to <c>CREATE DATABASE</c> (e.g. another collation).</param>
    public static async Task<TestDatabase> CreateAsync(bool migrate = true, string? createOptions = null)
    {
        var admin = new NpgsqlConnectionStringBuilder(TestEnvironment.Postgres);
        var name = $"goalgpt_t_{Guid.NewGuid():N}"[..30];
        await using (var connection = new NpgsqlConnection(admin.ConnectionString))
        {
            await connection.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name} {createOptions}", connection);
            await cmd.ExecuteNonQueryAsync();
        }

        var db = new TestDatabase(name, new NpgsqlConnectionStringBuilder(admin.ConnectionString) { Database = name, Pooling = true }.ConnectionString);
        if (migrate) await db.Migrator().MigrateAsync();
        return db;
    }

    public async Task<long> ScalarAsync(string sql)
    {
        await using var cmd = DataSource.CreateCommand(sql);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<string?> ScalarTextAsync(string sql)
    {
        await using var cmd = DataSource.CreateCommand(sql);
        return (string?)await cmd.ExecuteScalarAsync();
    }

    /// <summary>Runs <paramref name="sql"/>; returns the rows it affected.</summary>
    public async Task<int> ExecuteAsync(string sql)
    {
        await using var cmd = DataSource.CreateCommand(sql);
        return await cmd.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        try
        {
            await using var connection = new NpgsqlConnection(TestEnvironment.Postgres);
            await connection.OpenAsync();
            await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", connection);
            await cmd.ExecuteNonQueryAsync();
        }
        catch (NpgsqlException)
        {
            // Leave it: the next ./test.sh run starts from the same server; names are unique.
        }
    }
}
