using StackExchange.Redis;

namespace Campaign.Platform;

/// <summary>
/// Counters per window of time (a minute, an hour) that every dyno shares, in Redis: a count and
/// its expiry change in one step (a Lua script), so no counter outlives its window. While Redis
/// fails, each process counts on its own: a limit is then per dyno, never lifted.
/// </summary>
public sealed partial class Counters(IConnectionMultiplexer redis, ILogger<Counters> logger)
{
    // EXPIRE ... NX (Redis 7) gives an expiry to a counter that has none, and never extends one.
    const string IncrementScript = """
        local count = redis.call('INCR', KEYS[1])
        redis.call('EXPIRE', KEYS[1], ARGV[1], 'NX')
        return count
        """;

    // Every counter is taken, or none: one under its limit does not count a request that another
    // refuses.
    const string TakeScript = """
        for i, key in ipairs(KEYS) do
          if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i + 1]) then return 0 end
        end
        for i, key in ipairs(KEYS) do
          redis.call('INCR', key)
          redis.call('EXPIRE', key, ARGV[1], 'NX')
        end
        return 1
        """;

    readonly LocalCounters local = new();

    /// <summary>Counts one more in the window and answers the count.</summary>
    public async Task<long> Increment(string key, TimeSpan lifetime)
    {
        try
        {
            return (long)
                await redis
                    .GetDatabase()
                    .ScriptEvaluateAsync(IncrementScript, [key], [(long)lifetime.TotalSeconds]);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogCountedHere(logger, e.GetType().Name);
            return local.Increment(key, lifetime);
        }
    }

    /// <summary>Counts one more on each counter if every one is under its limit; false if one is not.</summary>
    public async Task<bool> TakeWithin(
        IReadOnlyList<(string Key, long Limit)> counters,
        TimeSpan lifetime
    )
    {
        try
        {
            return (long)
                    await redis
                        .GetDatabase()
                        .ScriptEvaluateAsync(
                            TakeScript,
                            [.. counters.Select(c => (RedisKey)c.Key)],
                            [
                                (long)lifetime.TotalSeconds,
                                .. counters.Select(c => (RedisValue)c.Limit),
                            ]
                        ) == 1;
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogCountedHere(logger, e.GetType().Name);
            return local.TakeWithin(counters, lifetime);
        }
    }

    /// <summary>This process's counters, for the time Redis fails; each forgotten after its window.</summary>
    sealed class LocalCounters
    {
        readonly Lock gate = new();
        readonly Dictionary<string, (long Count, long Until)> counts = [];

        public long Increment(string key, TimeSpan lifetime)
        {
            lock (gate)
                return Add(key, lifetime);
        }

        public bool TakeWithin(IReadOnlyList<(string Key, long Limit)> counters, TimeSpan lifetime)
        {
            lock (gate)
            {
                Forget();
                if (counters.Any(c => counts.GetValueOrDefault(c.Key).Count >= c.Limit))
                    return false;
                foreach (var (key, _) in counters)
                    Add(key, lifetime);
                return true;
            }
        }

        long Add(string key, TimeSpan lifetime)
        {
            Forget();
            var (count, until) = counts.GetValueOrDefault(
                key,
                (0, Environment.TickCount64 + (long)lifetime.TotalMilliseconds)
            );
            counts[key] = (count + 1, until);
            return count + 1;
        }

        long swept;

        // Monotonic time: as a Redis expiry, a window's end does not move with the wall clock.
        // Swept at most once a second, not on every request.
        void Forget()
        {
            var now = Environment.TickCount64;
            if (now - swept < 1000)
                return;
            swept = now;
            foreach (var key in counts.Where(c => c.Value.Until <= now).Select(c => c.Key).ToList())
                counts.Remove(key);
        }
    }

    [LoggerMessage(
        Level = LogLevel.Warning,
        Message = "counted in this process only: Redis failed ({Error})"
    )]
    static partial void LogCountedHere(ILogger logger, string error);
}
