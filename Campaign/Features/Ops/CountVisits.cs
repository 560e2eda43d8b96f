using System.Security.Cryptography;
using System.Text;
using Campaign.Platform;
using Coravel.Invocable;
using StackExchange.Redis;

namespace Campaign.Features.Ops;

/// <summary>
/// Visits to the landing page, for the dashboard's funnel, without personal data: every view is
/// counted in the process (<see cref="HourlyTally"/>), and each visitor as an HMAC of their address
/// under a key of the day (<see cref="VisitorKeys"/>), which Redis discards after two days. Neither
/// an address nor a hash of one alone (which a list of addresses would reverse) is kept anywhere.
/// Runs before the landing page's copies (LandingCopies): copies count too, and no request
/// waits on Redis.
/// </summary>
public static class CountVisits
{
    public const string Views = "campaign.landing_views";
    public const string Visitors = "campaign.landing_visitors";

    public static IApplicationBuilder UseVisitCounting(this IApplicationBuilder app) =>
        app.Use(
            (http, next) =>
            {
                if (HttpMethods.IsGet(http.Request.Method) && http.Request.Path == "/")
                {
                    var services = http.RequestServices;
                    var tally = services.GetRequiredService<HourlyTally>();
                    tally.Add(Views);
                    if (
                        services.GetRequiredService<VisitorKeys>().Today() is { } key
                        && http.Connection.RemoteIpAddress is { } address
                    )
                        tally.Visitor(
                            Convert.ToHexStringLower(
                                HMACSHA256.HashData(key, address.GetAddressBytes())
                            )[..32]
                        );
                }
                return next(http);
            }
        );
}

/// <summary>
/// The key of the day for visitors' HMACs: one for every dyno (in Redis, set by whichever asks
/// first), gone after two days. Fetched in the background: a request never waits for it, and
/// while it is missing (Redis down) views are counted without visitors.
/// </summary>
public sealed class VisitorKeys(IConnectionMultiplexer redis, TimeProvider clock)
{
    (DateOnly Day, byte[] Key)? current;
    int fetching;

    public byte[]? Today()
    {
        var day = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        if (current is var (known, key) && known == day)
            return key;
        if (Interlocked.Exchange(ref fetching, 1) == 0)
            _ = Fetch(day);
        return null;
    }

    async Task Fetch(DateOnly day)
    {
        try
        {
            var name = $"ops:visitor-key:{day:yyyyMMdd}";
            var db = redis.GetDatabase();
            await db.StringSetAsync(
                name,
                RandomNumberGenerator.GetBytes(32),
                HourlyTally.VisitorsLifetime,
                When.NotExists
            );
            if ((byte[]?)await db.StringGetAsync(name) is { Length: 32 } key)
                current = (day, key);
        }
        catch (Exception e) when (e is RedisException or TimeoutException) { }
        finally
        {
            Volatile.Write(ref fetching, 0);
        }
    }
}

/// <summary>
/// The clock's roll-up of unique visitors: each hour's HyperLogLog in Redis, counted, into
/// PostgreSQL's hourly table (where the dashboard and the export read it) before Redis lets it go.
/// </summary>
public sealed class RollUpVisitors(
    IConnectionMultiplexer redis,
    Npgsql.NpgsqlDataSource database,
    Settings settings,
    TimeProvider clock
) : IInvocable
{
    public async Task Invoke()
    {
        var thisHour = HourlyTally.HourOf(clock.GetUtcNow().ToUniversalTime());
        var hours = Enumerable
            .Range(0, (int)HourlyTally.VisitorsLifetime.TotalHours)
            .Select(h => thisHour.AddHours(-h))
            .ToArray();
        var db = redis.GetDatabase();
        var counts = await Task.WhenAll(
            hours.Select(h => db.HyperLogLogLengthAsync(HourlyTally.VisitorsKey(h)))
        );
        var known = hours.Zip(counts).Where(p => p.Second > 0).ToArray();
        if (known.Length == 0)
            return;
        await using var command = database.CreateCommand(
            $"""
            insert into {settings.DatabaseSchema}.{HourlyTally.Table} (hour, metric, value)
            select h, '{CountVisits.Visitors}', v from unnest($1::timestamptz[], $2::bigint[]) as t(h, v)
            on conflict (hour, metric) do update set value = excluded.value
            """
        );
        command.Parameters.Add(new() { Value = known.Select(p => p.First.UtcDateTime).ToArray() });
        command.Parameters.Add(new() { Value = known.Select(p => p.Second).ToArray() });
        await command.ExecuteNonQueryAsync();
    }
}
