using System.Collections.Concurrent;
using Marten;
using Npgsql;
using StackExchange.Redis;
using Weasel.Postgresql;
using Weasel.Postgresql.Tables;

namespace Campaign.Platform;

/// <summary>
/// Counts per hour, for the operators' dashboard: every <see cref="Metrics.Count"/> (entries, mails
/// sent, refusals) and what the pages add (landing views). Counted in the process, with no I/O on
/// the request, and added to PostgreSQL's <c>ops_hourly</c> table every few seconds in one
/// statement (<see cref="Flusher"/>): no row is updated per entry. Unique visitors are kept as
/// HMACs (never an address) and go to a Redis HyperLogLog per hour, which the clock rolls into
/// the same table.
/// </summary>
public sealed partial class HourlyTally(TimeProvider clock)
{
    public const string Table = "ops_hourly";

    /// <summary>Entries confirmed so far, counted under the hour each entry was made.</summary>
    public const string EntriesConfirmed = "campaign.entries_confirmed";
    public static readonly TimeSpan FlushEvery = TimeSpan.FromSeconds(5);

    ConcurrentDictionary<(DateTimeOffset Hour, string Metric), long> counts = new();
    ConcurrentDictionary<(DateTimeOffset Hour, string Visitor), byte> visitors = new();

    public static DateTimeOffset HourOf(DateTimeOffset instant) =>
        new(instant.Year, instant.Month, instant.Day, instant.Hour, 0, 0, TimeSpan.Zero);

    public void Add(string metric, long by = 1) => AddAt(clock.GetUtcNow(), metric, by);

    /// <summary>Counted under the hour of another instant (an entry confirmed now, under the hour it was made).</summary>
    public void AddAt(DateTimeOffset instant, string metric, long by = 1) =>
        counts.AddOrUpdate((HourOf(instant.ToUniversalTime()), metric), by, (_, n) => n + by);

    /// <summary>A visitor, as an HMAC that changes daily (<c>Features/Ops/CountVisits.cs</c>).</summary>
    public void Visitor(string hashed) =>
        visitors.TryAdd((HourOf(clock.GetUtcNow().ToUniversalTime()), hashed), 0);

    /// <summary>The Redis key of an hour's unique visitors (a HyperLogLog, kept about 48 hours).</summary>
    public static string VisitorsKey(DateTimeOffset hour) => $"ops:visitors:{hour:yyyyMMddHH}";

    public static readonly TimeSpan VisitorsLifetime = TimeSpan.FromHours(48);

    /// <summary>Writes what was counted since the last flush; on a failure keeps it for the next.</summary>
    public async Task Flush(
        NpgsqlDataSource database,
        string schema,
        IConnectionMultiplexer redis,
        CancellationToken cancellationToken
    )
    {
        // One snapshot, so that hours, metrics and values stay in step.
        var taken = Interlocked.Exchange(ref counts, new()).ToArray();
        if (taken.Length > 0)
            try
            {
                await using var command = database.CreateCommand(
                    $"""
                    insert into {schema}.{Table} (hour, metric, value)
                    select * from unnest($1::timestamptz[], $2::text[], $3::bigint[])
                    on conflict (hour, metric) do update set value = {Table}.value + excluded.value
                    """
                );
                command.Parameters.Add(
                    new() { Value = taken.Select(t => t.Key.Hour.UtcDateTime).ToArray() }
                );
                command.Parameters.Add(new() { Value = taken.Select(t => t.Key.Metric).ToArray() });
                command.Parameters.Add(new() { Value = taken.Select(t => t.Value).ToArray() });
                await command.ExecuteNonQueryAsync(cancellationToken);
            }
            catch (Exception e)
                when (ErrorResponses.IsBackingServiceFailure(e) || e is OperationCanceledException)
            {
                foreach (var ((hour, metric), n) in taken)
                    counts.AddOrUpdate((hour, metric), n, (_, m) => m + n);
                throw;
            }
        var seen = Interlocked.Exchange(ref visitors, new());
        if (!seen.IsEmpty)
            try
            {
                var db = redis.GetDatabase();
                foreach (var hour in seen.Keys.GroupBy(k => k.Hour))
                {
                    await db.HyperLogLogAddAsync(
                        VisitorsKey(hour.Key),
                        [.. hour.Select(k => (RedisValue)k.Visitor)]
                    );
                    await db.KeyExpireAsync(VisitorsKey(hour.Key), VisitorsLifetime);
                }
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                foreach (var key in seen.Keys)
                    visitors.TryAdd(key, 0);
                throw;
            }
    }

    /// <summary>The table, created and migrated with the schema (<c>db-apply</c>).</summary>
    public static void Configure(StoreOptions options)
    {
        var table = new Table(
            new PostgresqlObjectName(
                options.DatabaseSchemaName,
                Table,
                SchemaUtils.IdentifierUsage.General
            )
        );
        table.AddColumn("hour", "timestamp with time zone").AsPrimaryKey();
        table.AddColumn("metric", "text").AsPrimaryKey();
        table.AddColumn("value", "bigint").NotNull();
        options.Storage.ExtendedSchemaObjects.Add(table);
    }

    /// <summary>Flushes every few seconds, and once more when the process stops.</summary>
    public sealed partial class Flusher(
        HourlyTally tally,
        NpgsqlDataSource database,
        Settings settings,
        IConnectionMultiplexer redis,
        ILogger<Flusher> logger
    ) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            using var timer = new PeriodicTimer(FlushEvery);
            try
            {
                while (await timer.WaitForNextTickAsync(stoppingToken))
                    await FlushOnce(stoppingToken);
            }
            catch (OperationCanceledException) { }
        }

        public override async Task StopAsync(CancellationToken cancellationToken)
        {
            await base.StopAsync(cancellationToken);
            await FlushOnce(cancellationToken);
        }

        async Task FlushOnce(CancellationToken cancellationToken)
        {
            try
            {
                await tally.Flush(database, settings.DatabaseSchema, redis, cancellationToken);
            }
            // ObjectDisposedException: the process is ending and its pool is gone already.
            catch (Exception e)
                when (ErrorResponses.IsBackingServiceFailure(e)
                    || e is OperationCanceledException or ObjectDisposedException
                )
            {
                LogDeferred(logger, e.GetType().Name);
            }
        }

        [LoggerMessage(
            Level = LogLevel.Warning,
            Message = "dashboard counts kept for the next flush: {Error}"
        )]
        static partial void LogDeferred(ILogger logger, string error);
    }
}
