using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using StackExchange.Redis;

namespace Campaign.Features.Health;

/// <summary>
/// Liveness (<c>/healthz</c>: the process answers, nothing else is asked) and readiness
/// (<c>/readyz</c>: PostgreSQL and Redis answer, each within a short timeout so a stuck backing
/// service makes this endpoint answer 503 quickly instead of hanging).
/// </summary>
public static class CheckHealth
{
    public sealed record Readiness(string Status, IReadOnlyDictionary<string, string> Checks);

    static readonly TimeSpan PostgresTimeout = TimeSpan.FromSeconds(2);
    static readonly TimeSpan RedisTimeout = TimeSpan.FromSeconds(1);

    public static string Live() => "ok";

    public static async Task<Results<Ok<Readiness>, ProblemHttpResult>> Ready(
        NpgsqlDataSource postgres,
        IConnectionMultiplexer redis,
        CancellationToken cancellationToken
    )
    {
        var postgresUp = Probe(() => PingPostgres(postgres, cancellationToken), PostgresTimeout);
        var redisUp = Probe(() => redis.GetDatabase().PingAsync(), RedisTimeout);
        var checks = new SortedDictionary<string, string>
        {
            ["postgres"] = await postgresUp ? "up" : "down",
            ["redis"] = await redisUp ? "up" : "down",
        };
        var down = checks.Where(c => c.Value == "down").Select(c => c.Key).ToList();
        if (down.Count == 0)
            return TypedResults.Ok(new Readiness("ready", checks));
        return TypedResults.Problem(
            title: "Not ready",
            detail: $"Not answering: {string.Join(", ", down)}.",
            statusCode: StatusCodes.Status503ServiceUnavailable,
            extensions: new Dictionary<string, object?> { ["checks"] = checks }
        );
    }

    static async Task PingPostgres(NpgsqlDataSource postgres, CancellationToken cancellationToken)
    {
        await using var command = postgres.CreateCommand("select 1");
        await command.ExecuteScalarAsync(cancellationToken);
    }

    static async Task<bool> Probe(Func<Task> ping, TimeSpan timeout)
    {
        try
        {
            await Task.Run(ping).WaitAsync(timeout);
            return true;
        }
        catch (Exception)
        {
            // Whatever the failure (refused, timed out, authentication), the service is not usable.
            return false;
        }
    }
}
