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

    // For each set of counters in turn (a request each): every counter of the set is taken, or
    // none, so one under its limit does not count a request that another refuses. ARGV: the
    // lifetime, then per set its number of counters and their limits; KEYS: the sets' counters.
    const string TakeScript = """
        local taken, k, a = {}, 1, 2
        while a <= #ARGV do
          local n, ok = tonumber(ARGV[a]), 1
          for i = 0, n - 1 do
            if tonumber(redis.call('GET', KEYS[k + i]) or '0') >= tonumber(ARGV[a + 1 + i]) then ok = 0 end
          end
          if ok == 1 then
            for i = 0, n - 1 do
              redis.call('INCR', KEYS[k + i])
              redis.call('EXPIRE', KEYS[k + i], ARGV[1], 'NX')
            end
          end
          taken[#taken + 1] = ok
          k, a = k + n, a + 1 + n
        end
        return taken
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
    ) => (await TakeEach([counters], lifetime))[0];

    /// <summary>
    /// <see cref="TakeWithin"/> for several requests at once, in their order, in one round trip
    /// (the entries of one batch): whether each was taken.
    /// </summary>
    public async Task<bool[]> TakeEach(
        IReadOnlyList<IReadOnlyList<(string Key, long Limit)>> sets,
        TimeSpan lifetime
    )
    {
        try
        {
            var taken = (long[])
                (
                    await redis
                        .GetDatabase()
                        .ScriptEvaluateAsync(
                            TakeScript,
                            [.. sets.SelectMany(set => set.Select(c => (RedisKey)c.Key))],
                            [
                                (long)lifetime.TotalSeconds,
                                .. sets.SelectMany(set =>
                                    set.Select(c => (RedisValue)c.Limit).Prepend(set.Count)
                                ),
                            ]
                        )
                )!;
            return [.. taken.Select(t => t == 1)];
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogCountedHere(logger, e.GetType().Name);
            return [.. sets.Select(set => local.TakeWithin(set, lifetime))];
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
