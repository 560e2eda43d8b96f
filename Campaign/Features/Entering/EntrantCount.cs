using Marten;

namespace Campaign.Features.Entering;

/// <summary>
/// How many have entered, counted at most once per <see cref="Lifetime"/> in each process: anyone
/// may ask for it (<c>GET /api/v1/campaign</c>, the landing page), and counting every entrant is a
/// scan of the whole table. Requests that arrive while it is being counted share that count.
/// </summary>
public sealed class EntrantCount(IDocumentStore store, TimeProvider clock)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(5);

    readonly Lock gate = new();
    (Task<int> Count, DateTimeOffset At)? current;

    public Task<int> Current()
    {
        var now = clock.GetUtcNow();
        lock (gate)
        {
            // A failed count is not kept: the next request tries again.
            if (current is var (count, at) && at <= now && now < at + Lifetime && !count.IsFaulted)
                return count;
            var counting = Count();
            current = (counting, now);
            return counting;
        }
    }

    /// <summary>The next request counts again (after the entrants were deleted at once).</summary>
    public void Forget()
    {
        lock (gate)
            current = null;
    }

    // Not cancelled with the request that started it: others wait for it too. The command's own
    // time-out bounds it.
    async Task<int> Count()
    {
        await using var session = store.QuerySession();
        return await session.Query<Entrant>().CountAsync();
    }
}
